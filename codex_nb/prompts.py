"""What we say to the model for each kind of request.

Short on purpose: the same prompts drive a 135M offline model and frontier
models. The answer format is enforced by the schema where the provider can;
the prompt states it too for providers that cannot.
"""
from __future__ import annotations

PROPOSAL_FORMAT = (
    'Answer with one JSON object: {"explanation": "<what you change and why>", "edits": [...]}. '
    'Each edit is {"op": "insert"|"replace"|"delete", "cell_id": "<id>", "cell_type": "code"|"markdown", "source": "<full cell source>"}. '
    'For insert, cell_id is the cell to insert after ("end" appends). For replace, source is the complete new cell. '
    "Use only cell ids shown in the notebook."
)
FILE_FORMAT = (
    ' To change a repository file use {"op": "patch_file", "path": "<path>", "search": "<exact existing lines>", "replace": "<new lines>"}.'
)

ROLE = ("You are codex-nb, a careful coding assistant inside a Jupyter notebook. "
        "You see the notebook (cells with ids, outputs, errors), the live kernel state and relevant repository code. ")

TASKS = {
    "propose": "Propose the smallest set of notebook edits that does what the user asks.",
    "fix": "The notebook raised an error. Find the cause and propose edits that fix it; keep the rest unchanged.",
    "review": ("Review the notebook for bugs, hidden state, out-of-order execution, unused or shadowed names. "
               "Explain what you found and propose edits for what can be fixed."),
    "ask": "Answer the user's question in Markdown, concisely, citing cells by number and files by path.",
    "explain": "Explain the requested cell or error in Markdown: what it does, why it fails if it does, how to fix it.",
    "notebook": ("Write a new notebook for the description: propose insert edits (cell_id \"end\"), "
                 "markdown cells to explain and code cells that run top to bottom."),
}
STRUCTURED_KINDS = frozenset({"propose", "fix", "review", "notebook"})


def system_prompt(kind: str, allow_files: bool) -> str:
    text = ROLE + TASKS[kind]
    if kind in STRUCTURED_KINDS:
        text += " " + PROPOSAL_FORMAT + (FILE_FORMAT if allow_files else "")
    return text


def build_messages(kind: str, instruction: str, context_text: str, allow_files: bool = False) -> list[dict]:
    if kind not in TASKS:
        raise ValueError(f"unknown request kind {kind!r}")
    user = f"{context_text.rstrip()}\n\n## Request\n{instruction.strip() or TASKS[kind]}"
    return [{"role": "system", "content": system_prompt(kind, allow_files)}, {"role": "user", "content": user}]


def retry_message(error: str) -> dict:
    """Sent after an answer that could not be used; written for the model to act on."""
    return {"role": "user", "content": f"Your answer could not be used: {error}. Answer again, following the format exactly."}


def repair_instruction(failure: dict, diffs_text: str) -> str:
    cell = failure.get("cell_id") or "?"
    tb = "\n".join(failure.get("traceback") or [])[-3000:]
    return (
        "Your previous edits were applied and the notebook was re-run in a fresh kernel, but it failed, so they were "
        f"rolled back.\nEdits that failed:\n{diffs_text}\n"
        f"Failing cell id: {cell}\nError: {failure.get('ename')}: {failure.get('evalue')}\n{tb}\n"
        "Propose corrected edits against the notebook as it is now (shown above)."
    )
