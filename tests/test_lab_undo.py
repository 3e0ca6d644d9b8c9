"""Undo and redo on the `%%codex` card: the card says "undone" whichever door took the change back,
Redo applies the same edits again through the engine, and the card names only shortcuts that work."""
from __future__ import annotations

import time

from codex_nb import audit
from test_magics_fixtures import (  # noqa: F401  (fixtures)
    codex, ipshell, nb_file, proposal_reply, replace, run_magic)

ORIGINAL = "merged = rows[:2]"


def propose(codex, ipshell, *edits):
    codex.llm.queue(proposal_reply(*edits))
    run_magic(ipshell, "", "fix the merge")
    return codex.last_view


def wait_idle(view, timeout=10.0):
    end = time.monotonic() + timeout
    while view.busy and time.monotonic() < end:
        time.sleep(0.02)
    assert not view.busy, "the card is still busy"


def accepted(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    view.cards[0].accept.click()
    view.acceptance.wait(10)
    wait_idle(view)
    assert codex.lab.source("c-merge") == "merged = rows"
    return view


def test_the_kept_card_names_the_undo_that_works_and_offers_it(codex, ipshell):
    view = accepted(codex, ipshell)
    assert "✓ accepted" in view.cards[0].title.value
    notice = view.notice.value
    assert "%codex undo" in notice and "Undo button" in notice and "Ctrl+Z" not in notice
    assert view.undo_button.layout.display == "" and view.redo_button.layout.display == "none"


def test_percent_codex_undo_in_another_cell_marks_the_card_undone(codex, ipshell):
    view = accepted(codex, ipshell)
    run_magic(ipshell, "undo")
    end = time.monotonic() + 10
    while view.cards[0].state != "undone" and time.monotonic() < end:
        time.sleep(0.02)
    assert codex.lab.source("c-merge").startswith(ORIGINAL)
    assert view.cards[0].state == "undone" and "undone" in view.cards[0].title.value
    assert "accepted" not in view.cards[0].title.value
    assert view.redo_button.layout.display == "" and view.undo_button.layout.display == "none"


def test_the_cards_undo_then_redo_go_through_the_engine(codex, ipshell):
    view = accepted(codex, ipshell)
    view.undo_button.click()
    wait_idle(view)
    assert view.cards[0].state == "undone" and codex.lab.source("c-merge").startswith(ORIGINAL)
    assert "Undone" in view.notice.value
    view.redo_button.click()
    view.acceptance.wait(10)
    wait_idle(view)
    assert view.cards[0].state == "accepted" and codex.lab.source("c-merge") == "merged = rows"
    assert view.undo_button.layout.display == "" and view.redo_button.layout.display == "none"
    events = [e["event"] for e in audit.read(".") if e["event"] in ("kept", "undone")]
    assert events == ["kept", "undone", "kept"]  # the redo is a second acceptance, audited as one


def test_undo_of_an_older_change_says_to_undo_the_newer_one_first(codex, ipshell):
    first = accepted(codex, ipshell)
    second = propose(codex, ipshell, replace("c-check", "print(len(merged))"))
    second.cards[0].accept.click()
    second.acceptance.wait(10)
    wait_idle(second)
    first.undo_button.click()
    assert "undo that first" in first.notice.value and first.cards[0].state == "accepted"
    assert codex.lab.source("c-merge") == "merged = rows"
