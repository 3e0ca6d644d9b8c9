"""commit = "ask" on a terminal: the question, the answer, and what to say either way (the CLI, the terminal review)."""
from __future__ import annotations

import shlex
from typing import Callable


def by_hand(files: list[str]) -> str:
    """The git commands that commit exactly these files, for a person who said no (or could not be asked)."""
    return f"git add -A -- {' '.join(shlex.quote(f) for f in files)} && git commit"


def offer_commit(outcome, *, ask: Callable[[str], str] | None, say: Callable[[str], None],
                 commit: Callable[[], str]) -> str | None:
    """Ask "Commit N file(s) …? [y/N]" and on yes ``commit()`` (the engine's commit_offered); the sha, or None.

    ``ask`` None means there is no terminal to ask: the change stays kept, uncommitted, and the
    notice says how to commit it. A refusal (a file changed since) is said, never raised.
    """
    from ..errors import CodexError

    offer = outcome.commit_offer
    listed = ", ".join(offer.files)
    if ask is None:
        say(f"Kept without a commit: commit = 'ask' and no terminal to ask. Commit it by hand ({by_hand(offer.files)}), "
            "or pass --commit to commit kept changes without asking.")
        return None
    subject = offer.message.split("\n", 1)[0]
    carries = f" (with your own edits to {', '.join(offer.dirty)})" if offer.dirty else ""
    answer = (ask(f"Commit {len(offer.files)} file(s) ({listed}){carries} as \"{subject}\"? [y/N] ") or "").strip().lower()
    if answer not in ("y", "yes"):
        say(f"Kept without a commit. To commit it later: {by_hand(offer.files)}")
        return None
    try:
        sha = commit()
    except CodexError as exc:
        say(f"Not committed: {exc.message}" + (f"\n  → {exc.hint}" if exc.hint else ""))
        return None
    say(f"Committed {sha[:12]}: {listed}.")
    return sha
