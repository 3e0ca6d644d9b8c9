"""Review widgets, the live-apply channel, the throttle, fallbacks and the terminal review."""
from __future__ import annotations

import json
import threading
import time

import nbformat
import pytest

from codex_nb import audit
from codex_nb.widgets.live import LiveChannel
from codex_nb.widgets.stream import Throttle
from test_magics_fixtures import (  # noqa: F401  (fixtures)
    FakeLab, FakeValidator, codex, ipshell, make_notebook, nb_file, proposal_reply, replace, run_magic, wait_for)


def visible_text(html: str) -> str:
    """What a reader of the HTML sees (highlighting splits code into spans)."""
    import html as _html
    import re

    return _html.unescape(re.sub(r"<[^>]+>", "", html))


# -- throttle -----------------------------------------------------------------------------------------

def test_throttle_shows_first_token_at_once_and_bounds_the_rate():
    pushed = []
    t = Throttle(lambda text: pushed.append((time.monotonic(), text)), interval=0.05)
    start = time.monotonic()
    t.add("first")
    assert pushed and pushed[0][1] == "first"  # shown at once, by the call itself
    for i in range(2000):
        t.add(".")
    deadline = time.monotonic() + 5  # the timer shows the tail even though no more tokens come
    while pushed[-1][1] != "first" + "." * 2000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pushed[-1][1] == "first" + "." * 2000
    assert len(pushed) <= 2 + (pushed[-1][0] - start) / 0.05  # 2000 tokens, one update per interval at most
    gaps = [b[0] - a[0] for a, b in zip(pushed, pushed[1:])]
    assert all(g >= 0.045 for g in gaps)


# -- live channel ---------------------------------------------------------------------------------------

def test_channel_matches_replies_and_caches_the_snapshot():
    lab = FakeLab(make_notebook())
    ch = LiveChannel(comm_factory=lab.factory)
    got = []
    ch.request({"type": "snapshot"}, got.append)
    assert got[0]["ok"] and ch.status == "available"
    assert ch.snapshot["notebook"]["cells"][0]["id"] == "c-load"


def test_channel_without_target_is_absent_and_answers_pending_requests():
    lab = FakeLab(make_notebook(), close_on_open=True)
    ch = LiveChannel(comm_factory=lab.factory)
    got = []
    ch.request({"type": "snapshot"}, got.append)
    assert ch.status == "absent" and got[0]["no_frontend"] and "extension" in got[0]["reason"]


def test_channel_timeout_then_late_reply_is_still_delivered():
    lab = FakeLab(make_notebook(), auto=False)
    ch = LiveChannel(comm_factory=lab.factory, timeout=0.1)
    got = []
    ch.request({"type": "apply", "ops": []}, got.append)
    time.sleep(0.3)
    assert got and got[0].get("timeout") and ch.status == "absent"
    lab.deliver()  # the front end was only slow: an apply that happened must not be lost
    assert len(got) == 2 and got[1]["ok"]


def test_unanswered_ping_across_an_idle_kernel_means_absent():
    lab = FakeLab(make_notebook(), silent=True)
    ch = LiveChannel(comm_factory=lab.factory, timeout=30)
    ch.ping(execution_count=3)
    assert ch.status_at(3) == "unknown"  # still in the cell that sent it
    assert ch.status_at(4) == "absent"


# -- review widget --------------------------------------------------------------------------------------

def propose(codex, ipshell, *edits, line=""):
    codex.llm.queue(proposal_reply(*edits))
    run_magic(ipshell, line, "fix the merge")
    return codex.last_view


def test_static_fallback_in_the_mime_bundle(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "codex-card" in bundle["text/html"] and "+merged = rows" in visible_text(bundle["text/html"])
    assert "-merged = rows[:2]" in bundle["text/plain"]


def test_without_extension_code_goes_to_a_new_cell_and_the_rest_is_named(codex, ipshell, monkeypatch):
    inserted = []
    monkeypatch.setattr(ipshell, "set_next_input", lambda text, replace=False: inserted.append(text))
    codex.channel.status = "absent"
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"), {"op": "delete", "cell_id": "c-check"},
                   {"op": "insert", "cell_id": "c-merge", "cell_type": "code", "source": "assert merged == rows"})
    assert "merged = rows" in inserted[0] and "assert merged == rows" in inserted[0]
    assert "Not applied" in view.note and "Delete cell [3]" in view.note and "Change cell [2]" in view.note
    assert view.cards[0].buttons.layout.display == "none"
    assert not [m for m in codex.lab.received if m["type"] == "apply"]


def test_click_without_answering_front_end_changes_nothing_and_says_so(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    codex.lab.silent = True
    codex.channel.status = "unknown"
    view.cards[0].accept.click()
    for _ in range(40):
        if not view.busy:
            break
        time.sleep(0.05)
    assert "did not answer" in view.notice.value and "Nothing was changed" in view.notice.value
    assert view.cards[0].state == "pending"


def test_edit_then_accept_applies_the_persons_version(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    card = view.cards[0]
    card.edit.click()
    assert card.editor.layout.display != "none"
    card.editor.value = "merged = list(rows)"
    card.save.click()
    assert "+merged = list(rows)" in view.diffs[0]["unified"]
    card.accept.click()
    view.acceptance.wait(10)
    assert codex.lab.source("c-merge") == "merged = list(rows)"


def test_accept_and_run_runs_the_cell_in_the_notebook_after_validation(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged_all = rows + [4]"))
    view.cards[0].accept_run.click()
    view.acceptance.wait(10)
    assert codex.lab.ran == ["c-merge"]  # the front end executes the real cell: its output lands there
    assert "merged_all" not in ipshell.user_ns


def test_accept_and_run_does_not_run_what_validation_rolled_back(codex, ipshell):
    codex.validator.fail_cell = "c-merge"
    view = propose(codex, ipshell, replace("c-merge", "merged_all = rows + [4]"))
    view.cards[0].accept_run.click()
    view.acceptance.wait(10)
    assert codex.lab.ran == [] and "merged_all" not in ipshell.user_ns


def test_accept_and_run_without_a_cell_runner_runs_the_code_here(codex, ipshell):
    codex.lab.runs_cells = False
    ipshell.user_ns["rows"] = [1, 2, 3]
    view = propose(codex, ipshell, replace("c-merge", "merged_all = rows + [4]"))
    view.cards[0].accept_run.click()
    view.acceptance.wait(10)
    assert ipshell.user_ns["merged_all"] == [1, 2, 3, 4]


def test_reject_and_per_edit_accept(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"), replace("c-check", "print(sum(merged))"))
    view.cards[1].reject.click()
    assert view.cards[1].state == "rejected" and view.cards[1].accept.disabled
    view.accept_all.click()  # only what is still pending
    view.acceptance.wait(10)
    assert codex.lab.source("c-merge") == "merged = rows"
    assert codex.lab.source("c-check").startswith("total = sum(merged)")
    decisions = [(e["decision"], e.get("edits")) for e in audit.read(".") if e["event"] == "decided"]
    assert decisions == [("rejected", [1]), ("accepted", [0])]


def test_validation_progress_is_shown_per_cell(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    view.cards[0].accept.click()
    view.acceptance.wait(10)
    assert "codex-cell-done" in view.cells.value and view.bar.value == view.bar.max
    assert any(e["type"] == "progress" and e["event"]["type"] == "cell_start" for e in view.events)


# -- real validation (papermill, a fresh kernel) -------------------------------------------------------------

@pytest.mark.parametrize("source, kept", [("merged = list(rows)", True), ("merged = rows_that_do_not_exist", False)])
def test_real_validation_keeps_or_rolls_back(codex, ipshell, source, kept):
    codex.validator = None  # the real validate_notebook
    original = json.dumps(codex.lab.nb, sort_keys=True)
    view = propose(codex, ipshell, replace("c-merge", source))
    view.cards[0].accept.click()
    view.acceptance.wait(120)
    if kept:
        assert codex.lab.source("c-merge") == source and "validation passed" in view.badge.value
    else:
        assert json.dumps(codex.lab.nb, sort_keys=True) == original
        assert "NameError" in view.badge.value and "rolled back" in view.notice.value


# -- terminal IPython -------------------------------------------------------------------------------------

def test_terminal_review_asks_and_applies_to_the_file(codex, ipshell, nb_file, capsys, monkeypatch):
    codex.ui = "terminal"
    answers = iter(["y", "n"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows"), replace("c-check", "print(1)")))
    run_magic(ipshell, f"--notebook {nb_file} fix the merge")
    out = capsys.readouterr().out
    assert "[1] Change cell [2]" in out and "validation" in out
    on_disk = nbformat.read(str(nb_file), as_version=4)
    assert on_disk.cells[1].source == "merged = rows" and on_disk.cells[2].source.startswith("total")


def test_terminal_review_rolls_the_file_back_on_failure(codex, ipshell, nb_file, capsys, monkeypatch):
    codex.ui = "terminal"
    codex.validator = FakeValidator(fail_cell="c-merge")
    before = nb_file.read_bytes()
    monkeypatch.setattr("builtins.input", lambda prompt="": "a")
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = nope")))
    run_magic(ipshell, f"--notebook {nb_file} fix the merge")
    assert nb_file.read_bytes() == before
    assert "Rolled back" in capsys.readouterr().out


def test_terminal_without_notebook_puts_code_at_the_next_prompt(codex, ipshell, monkeypatch):
    codex.ui = "terminal"
    monkeypatch.delenv("JPY_SESSION_NAME")
    inserted = []
    monkeypatch.setattr(ipshell, "set_next_input", lambda text, replace=False: inserted.append(text))
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    codex.llm.queue(proposal_reply({"op": "insert", "cell_id": "end", "cell_type": "code", "source": "print('hi')"}))
    run_magic(ipshell, "print hi")
    assert "print('hi')" in inserted[0]


def test_undo_from_the_terminal_restores_the_file(codex, ipshell, nb_file, monkeypatch):
    codex.ui = "terminal"
    before = nb_file.read_bytes()
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, f"--notebook {nb_file} --no-validate fix the merge")
    assert nb_file.read_bytes() != before
    run_magic(ipshell, "undo")
    assert nb_file.read_bytes() == before


def test_threads_do_not_leak(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    view.cards[0].accept.click()
    view.acceptance.wait(10)
    assert not [t for t in threading.enumerate() if t.name == "codex-nb-validate" and t.is_alive()]


# -- papermill / nbconvert: no front end answers ------------------------------------------------------

def test_papermill_run_keeps_a_readable_static_proposal(scripted_llm, tmp_path, monkeypatch):
    """A real kernel, no lab extension: the proposal is kept as HTML and text, nothing is applied."""
    import os

    import papermill

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    nb = make_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("%load_ext codex_nb"))
    nb.cells.append(nbformat.v4.new_code_cell("%%codex --notebook analysis.ipynb\nthe merge drops rows"))
    src = tmp_path / "analysis.ipynb"
    nbformat.write(nb, str(src))
    (tmp_path / ".git").mkdir()  # its own repository root, whatever /tmp holds
    scripted_llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    out = papermill.execute_notebook(str(src), str(tmp_path / "out.ipynb"), cwd=str(tmp_path), progress_bar=False,
                                     kernel_name="python3")
    outputs = out.cells[-1].outputs
    bundle = outputs[-1]["data"]
    assert "codex-card" in bundle["text/html"] and "+merged = rows" in visible_text(bundle["text/html"])
    assert "-merged = rows[:2]" in bundle["text/plain"]
    assert "extension is not active" in bundle["text/html"]  # says clearly what was not applied
    assert out.cells[1].source == "merged = rows[:2]"
    from nbconvert import MarkdownExporter

    markdown, _ = MarkdownExporter().from_notebook_node(out)
    assert "codex-card" in markdown and "Change cell [2]" in markdown


def test_file_patch_is_applied_with_the_cells_and_rolled_back_with_them(codex, ipshell, nb_file):
    helper = nb_file.parent / "helpers.py"
    helper.write_text("def keep(rows):\n    return rows[:2]\n")
    codex.validator.fail_cell = "c-merge"
    view = propose(codex, ipshell, replace("c-merge", "merged = keep(rows)"),
                   {"op": "patch_file", "path": "helpers.py", "search": "return rows[:2]", "replace": "return rows"})
    assert view.diffs[1]["op"] == "patch_file"
    view.accept_all.click()
    view.acceptance.wait(10)
    assert helper.read_text() == "def keep(rows):\n    return rows[:2]\n"  # rolled back with the notebook
    codex.validator.fail_cell = None
    view.accept_all.click()
    view.acceptance.wait(10)
    assert helper.read_text() == "def keep(rows):\n    return rows\n"
    run_magic(ipshell, "undo")  # answered by the page after the cell: wait for it
    assert wait_for(lambda: helper.read_text() == "def keep(rows):\n    return rows[:2]\n")
    assert codex.lab.source("c-merge") == "merged = rows[:2]"




def test_a_second_click_while_busy_is_answered_not_queued(codex, ipshell):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"), replace("c-check", "print(1)"))
    codex.lab.auto = False  # the front end answers only when the kernel is idle again
    view.cards[0].accept.click()
    view.cards[1].accept.click()
    assert "Still applying" in view.notice.value
    assert wait_for(lambda: (codex.lab.deliver() or view.acceptance.future.done()))
    view.acceptance.wait(10)
    assert codex.lab.source("c-merge") == "merged = rows" and codex.lab.source("c-check").startswith("total")


def test_front_end_notebooks_with_line_lists_are_read_as_text():
    from codex_nb.widgets.apply import notebook_from_reply

    nb = json.loads(json.dumps(make_notebook()))
    nb["cells"][0]["source"] = ["import math\n", "rows = [1, 2, 3, 4]"]
    assert notebook_from_reply({"notebook": nb}).cells[0].source == "import math\nrows = [1, 2, 3, 4]"


def test_an_internal_error_is_shown_not_left_spinning(codex, ipshell, monkeypatch):
    view = propose(codex, ipshell, replace("c-merge", "merged = rows"))
    monkeypatch.setattr("codex_nb.engine.engine.FileChange.planned", lambda *a, **k: 1 / 0)
    view.cards[0].accept.click()
    view.acceptance.wait(10)
    assert not view.busy and "internal error" in view.notice.value and "ZeroDivisionError" in view.notice.value


# -- a reloaded page -------------------------------------------------------------------------------------

def test_a_reloaded_page_opens_a_new_comm_and_waiting_requests_go_there():
    old = FakeLab(make_notebook(), silent=True)  # the page that was reloaded: its comm answers nothing
    ch = LiveChannel(comm_factory=old.factory, timeout=5)
    ch.status = "available"
    got = []
    ch.request({"type": "snapshot"}, got.append)
    assert not got
    new = FakeLab(make_notebook())
    ch.adopt(new.factory())  # the new page opens the comm itself when it sees the kernel
    assert got and got[0]["ok"] and [m["type"] for m in new.received] == ["snapshot"]


def test_an_unanswered_request_is_sent_again_on_a_fresh_comm_then_says_what_to_do():
    labs = [FakeLab(make_notebook(), silent=True), FakeLab(make_notebook())]
    made = []

    def factory():
        lab = labs[len(made)]
        made.append(lab)
        return lab.factory()

    ch = LiveChannel(comm_factory=factory, timeout=0.2)
    ch.status = "available"
    got = []
    ch.request({"type": "snapshot"}, got.append)
    assert wait_for(lambda: bool(got), 5) and got[0]["ok"] and len(made) == 2  # answered on the new comm
    gone = LiveChannel(comm_factory=FakeLab(make_notebook(), silent=True).factory, timeout=0.2)
    gone.status = "available"
    answer = []
    gone.request({"type": "snapshot"}, answer.append)
    assert wait_for(lambda: bool(answer), 5)
    assert answer[0]["no_frontend"] and "reloaded or closed" in answer[0]["reason"]


def test_while_a_cell_runs_the_channel_waits_instead_of_giving_up():
    lab = FakeLab(make_notebook(), auto=False)
    ch = LiveChannel(comm_factory=lab.factory, timeout=0.1)
    ch.status, ch.cell_running = "available", True
    got = []
    ch.request({"type": "snapshot"}, got.append)
    time.sleep(0.5)
    assert not got  # no timeout answer while the kernel cannot reply
    ch.cell_running = False
    lab.deliver()
    assert got and got[0]["ok"]
