"""`codex-nb propose NB INSTRUCTION`: ask the model for edits; print them (or the JSON)."""
from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("propose", help="ask the model for notebook edits (nothing is changed)",
                       description="Ask the model for edits to a notebook. Nothing is changed: review the "
                       "proposal, then `codex-nb apply NB PROPOSAL.json`.")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("instruction", help="what you want, in plain words")
    p.add_argument("--model", help="provider:model, e.g. local:smollm2, openai:gpt-4.1-mini, ollama:qwen2.5-coder:7b")
    p.add_argument("--repo", help="repository root for context (default: found from the notebook)")
    p.add_argument("--json", action="store_true", help="print the proposal as JSON on stdout")
    p.add_argument("-o", "--output", help="also write the proposal JSON to this file")
    p.add_argument("--budget", type=int, help="context token budget")
    p.add_argument("--quiet", action="store_true", help="do not stream the model's text to stderr")
    p.set_defaults(run=run)


def run(args) -> int:
    import json
    from pathlib import Path

    from ..assistant import run as run_assistant
    from ..edits.diff import proposal_diffs, render_text
    from ..errors import UsageProblem
    from ..notebook_io import atomic_write_text, read_notebook

    if not Path(args.notebook).exists():
        raise UsageProblem(f"{args.notebook} does not exist", hint="give the path of an existing .ipynb file")
    nb = read_notebook(args.notebook)
    stream = None if args.quiet else _stderr_stream()
    result = run_assistant("propose", args.instruction, notebook=args.notebook, notebook_node=nb, model=args.model,
                           repo=args.repo, budget=args.budget, on_delta=stream)
    if stream:
        sys.stderr.write("\n")
    data = result.proposal.to_json()
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if args.output:
        atomic_write_text(args.output, text + "\n")
    if args.json:
        print(text)
    else:
        print(f"Proposal {data['id']} from {result.model}\n\n{result.proposal.explanation}\n")
        print(render_text(proposal_diffs(nb, result.proposal, args.repo), color=sys.stdout.isatty()))
        if not result.proposal.edits:
            print("(no edits proposed)")
    return 0


def _stderr_stream():
    tty = sys.stderr.isatty()

    def write(text: str):
        if tty:
            sys.stderr.write(text)
            sys.stderr.flush()

    return write
