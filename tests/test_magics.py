"""%codex / %%codex through an in-process IPython shell and a scripted model on loopback HTTP."""
from __future__ import annotations

import json
import time
import subprocess
import sys

import nbformat
import pytest
from IPython.core.error import UsageError

from codex_nb import audit
from test_magics_fixtures import (  # noqa: F401  (fixtures)
    FakeValidator, codex, ipshell, nb_file, proposal_reply, replace, run_magic)


def last_user_message(llm) -> str:
    return llm.requests[-1]["messages"][-1]["content"]


def events(kind=None):
    return [e for e in audit.read(".") if kind is None or e["event"] == kind]


# -- loading -------------------------------------------------------------------------------------

def test_load_ext_imports_nothing_heavy_and_warms_the_pipeline_in_the_background():
    code = ("import sys, threading; from IPython.testing.globalipapp import start_ipython; ip = start_ipython(); "
            "held = []; start = threading.Thread.start; "
            "threading.Thread.start = lambda t: held.append(t) if t.name == 'codex-nb-warm-imports' else start(t); "
            "ip.run_line_magic('load_ext', 'codex_nb'); "
            "heavy = [m for m in ('nbformat', 'openai', 'anthropic', 'papermill', 'ipywidgets', 'nbclient', "
            "'codex_nb.context.engine') if m in sys.modules]; "
            "print(heavy); assert 'codex' in ip.magics_manager.magics['cell']; "
            "[start(t) for t in held]; [t.join(60) for t in held]; "
            "print(len(held), 'nbformat' in sys.modules and 'codex_nb.context.engine' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == "[]"  # %load_ext itself stays cheap …
    assert lines[-1] == "1 True"  # … and one background thread imports the pipeline for the first request


def test_help_and_unload(ipshell, capsys):
    from codex_nb.magics import register_magics, unregister_magics

    register_magics(ipshell)
    ipshell.run_line_magic("codex", "help")
    assert "notebook PATH" in capsys.readouterr().out
    unregister_magics(ipshell)
    assert "codex" not in ipshell.magics_manager.magics["line"]


def test_loaded_at_kernel_start_the_front_end_is_asked_in_the_first_cell(ipshell, monkeypatch):
    from codex_nb.magics import register_magics, unregister_magics

    class IdleKernel:  # no request being handled: the extension was loaded from the config
        def get_parent(self):
            return {}

    monkeypatch.setattr(ipshell, "kernel", IdleKernel(), raising=False)
    magics = register_magics(ipshell)
    try:
        assert magics.session.channel.ping_execution_count is None
        ipshell.run_cell("1 + 1", store_history=True)
        first = magics.session.channel.ping_execution_count
        assert first is not None
        ipshell.run_cell("2 + 2", store_history=True)
        assert magics.session.channel.ping_execution_count == first  # only once
    finally:
        unregister_magics(ipshell)


# -- propose (the default subcommand) --------------------------------------------------------------

def test_cell_magic_proposes_with_notebook_and_kernel_context(codex, ipshell):
    ipshell.user_ns["rows"] = [1, 2, 3, 4]
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "", "the merge in cell 2 drops rows — fix it")
    sent = last_user_message(codex.llm)
    assert "merged = rows[:2]" in sent and "c-merge" in sent  # the notebook, addressed by cell id
    assert "rows: list len=4" in sent  # the live kernel state
    view = codex.last_view
    assert [d["cell_id"] for d in view.diffs] == ["c-merge"]
    assert "codex-accept" in view.cards[0].accept._dom_classes
    assert events("proposed")[-1]["proposal_id"] == view.proposal.id


def test_cells_run_since_the_last_save_are_seen_as_they_ran(codex, ipshell, monkeypatch):
    monkeypatch.setattr(codex, "current_cell_id", lambda: "c-merge")
    ipshell.run_cell("rows = [1, 2, 3, 4]\nmerged = rows[:3]  # edited, run, not saved", store_history=True)
    monkeypatch.setattr(codex, "current_cell_id", lambda: None)
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "", "fix the merge")
    assert "merged = rows[:3]  # edited, run, not saved" in last_user_message(codex.llm)
    assert codex.last_view.diffs[0]["old"].endswith("# edited, run, not saved")


def test_line_magic_default_subcommand_and_model_flag(codex, ipshell):
    codex.llm.queue(proposal_reply(replace("c-check", "total = sum(merged)\nassert total == 10")))
    run_magic(ipshell, "--model openai:other-model add a check to cell 3")
    body = codex.llm.requests[-1]
    assert body["model"] == "other-model"
    assert body["messages"][-1]["content"].rstrip().endswith("add a check to cell 3")


def test_propose_without_text_says_how(codex, ipshell):
    with pytest.raises(UsageError, match="say what you want"):
        run_magic(ipshell, "")


def test_accept_applies_live_and_validates_targeted(codex, ipshell):
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "", "fix the merge")
    view = codex.last_view
    view.cards[0].accept.click()
    view.acceptance.wait(10)
    assert codex.lab.source("c-merge") == "merged = rows"
    apply = [m for m in codex.lab.received if m["type"] == "apply"][0]
    assert apply["ops"][0]["op"] == "replace"
    call = codex.validator.calls[-1]
    assert call["mode"] == "auto" and "c-merge" in call["changed"]
    assert "validation passed" in view.badge.value
    assert view.cards[0].state == "accepted"
    assert [e["event"] for e in events()][-4:] == ["decided", "applied", "validated", "kept"]
    assert all(e["source"] == "kernel" and e["proposal_id"] == view.proposal.id for e in events()[-4:])


def test_failed_validation_rolls_back_and_fix_asks_again(codex, ipshell):
    original = json.dumps(codex.lab.nb, sort_keys=True)
    codex.validator.fail_cell = "c-merge"
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = nope")))
    run_magic(ipshell, "", "fix the merge")
    view = codex.last_view
    view.accept_all.click()
    view.acceptance.wait(10)
    assert json.dumps(codex.lab.nb, sort_keys=True) == original  # restored in place, exactly
    assert "codex-rollback" in view.notice.value and "NameError" in view.badge.value
    assert view.fix.layout.display != "none"
    assert codex.history == []  # a rolled-back change is not left for %codex undo
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = list(rows)"), explanation="use rows"))
    codex.validator.fail_cell = None
    view.fix.click()
    for _ in range(100):
        if len(view.followup.children) > 1:
            break
        import time; time.sleep(0.05)
    follow = view.followup.children[-1]
    assert follow.proposal.explanation == "use rows"
    assert "name 'nope' is not defined" in last_user_message(codex.llm)
    assert "rolled_back" in [e["event"] for e in events()]


def test_stale_edit_is_refused_with_reason(codex, ipshell):
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "", "fix the merge")
    codex.lab.nb.cells[1]["source"] = "merged = rows[:3]  # typed after the proposal"
    codex.last_view.cards[0].accept.click()
    codex.last_view.acceptance.wait(10)
    assert "changed since the proposal" in codex.last_view.notice.value
    assert codex.lab.source("c-merge").startswith("merged = rows[:3]")
    assert not [m for m in codex.lab.received if m["type"] == "apply"]


def test_no_validate_and_mode_flags(codex, ipshell):
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "--no-validate", "fix the merge")
    codex.last_view.cards[0].accept.click()
    codex.last_view.acceptance.wait(10)
    assert codex.validator.calls == [] and "not validated" in codex.last_view.badge.value
    codex.llm.queue(proposal_reply(replace("c-check", "print(sum(merged))")))
    run_magic(ipshell, "--mode full", "print it")
    codex.last_view.cards[0].accept.click()
    codex.last_view.acceptance.wait(10)
    assert codex.validator.calls[-1]["mode"] == "full"


@pytest.mark.parametrize("line, message", [
    ("--colour red fix", "unknown flag --colour"),
    ("--mode quick fix", "unknown validation mode"),
    ("--model", "--model needs a value"),
    ("--notebook missing.ipynb fix it", "missing.ipynb does not exist"),
    ("-x fix", "two dashes"),
])
def test_flag_errors_are_usage_errors_with_a_fix(codex, ipshell, line, message):
    with pytest.raises(UsageError, match=message):
        run_magic(ipshell, line)


def test_unusable_model_answers_are_a_usage_error_for_people(codex, ipshell):
    codex.llm.queue("I would rather chat.").queue("Still chatting.")
    with pytest.raises(UsageError, match="could not be used(.|\n)*--model"):
        run_magic(ipshell, "", "fix the merge")


def test_no_model_configured_is_a_usage_error(codex, ipshell, monkeypatch):
    for var in ("CODEX_NB_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setattr("codex_nb.providers.local_provider.LocalProvider.status",
                        classmethod(lambda cls: {"configured": False, "detail": "", "reachable": None}))
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        run_magic(ipshell, "ask why")


def test_unknown_notebook_is_a_usage_error(codex, ipshell, monkeypatch, tmp_path):
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(UsageError, match="--notebook PATH"):
        run_magic(ipshell, "fix the merge")


# -- interpolation and mentions -----------------------------------------------------------------------

def test_braces_in_out_and_mentions_are_interpolated(codex, ipshell):
    ipshell.run_cell("threshold = 42", store_history=True)
    ipshell.run_cell("threshold * 2", store_history=True)
    n = ipshell.execution_count - 1
    ipshell.user_ns["orders"] = {"id": [1, 2], "total": [9.5, 3.0]}
    codex.llm.queue("Because of the threshold.")
    run_magic(ipshell, "ask", f"why {{threshold}} and {{Out[{n}]}}? see In[{n}] and @orders; keep {{\"a\": 1}}")
    sent = last_user_message(codex.llm)
    assert "why 42 and 84?" in sent
    assert "threshold * 2" in sent  # In[n] attached as code
    assert "Variables the user pointed at" in sent and "orders: dict len=2" in sent
    assert '{"a": 1}' in sent  # JSON in a request survives


# -- ask / explain / fix / review ----------------------------------------------------------------------

def test_ask_streams_then_shows_markdown(codex, ipshell):
    from IPython.utils.capture import capture_output

    codex.llm.queue("Use **merge** with `how='left'`.", chunk_delay=0.001)
    with capture_output() as cap:
        run_magic(ipshell, "ask how do I keep all rows?")
    kinds = [set(o.data) for o in cap.outputs]
    assert any("text/markdown" in k for k in kinds)
    assert cap.outputs[-1].data["text/markdown"].startswith("Use **merge**")
    assert "codex is writing" in cap.outputs[0].data["text/html"]


def test_an_answer_that_loops_is_stopped_and_shown_once_with_a_note(codex, ipshell):
    from IPython.utils.capture import capture_output

    from codex_nb.providers.repetition import NOTE

    loop = "- `y` (int64): the column type\n- `x` (int64): the column type\n"
    codex.llm.queue("The DataFrame df contains:\n\n" + loop * 200, chunk_size=8, chunk_delay=0.001)
    with capture_output() as cap:
        run_magic(ipshell, "ask what does the DataFrame df contain?")
    shown = cap.outputs[-1].data["text/markdown"]
    assert shown.count(loop) == 1 and shown.endswith(NOTE)
    assert not codex.llm.chat_streams[-1]["completed"]  # the model did not run to the end of its loop


def test_a_trailing_question_mark_is_a_question_not_a_help_request(codex, ipshell):
    codex.llm.queue("It makes a list.")
    result = ipshell.run_cell("x = 1\n%codex ask what does cell 1 do?")
    assert result.success
    assert last_user_message(codex.llm).rstrip().endswith("what does cell 1 do?")
    codex.llm.queue("ok")
    ipshell.run_cell("%%codex ask\nis this a question?")
    assert last_user_message(codex.llm).rstrip().endswith("is this a question?")


def test_fix_uses_the_last_error_and_its_cell(codex, ipshell):
    ipshell.run_cell("merged = rows[:2]\n1 / 0")
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "fix")
    sent = last_user_message(codex.llm)
    assert "ZeroDivisionError" in sent and "Fix the last error." in sent
    assert codex.last_view.diffs[0]["cell_id"] == "c-merge"


def test_fix_without_an_error_says_how(codex, ipshell, monkeypatch):
    codex.last_error = None
    monkeypatch.delattr(sys, "last_value", raising=False)
    with pytest.raises(UsageError, match="no error to fix"):
        run_magic(ipshell, "fix")


def test_explain_a_cell_and_bad_numbers(codex, ipshell, monkeypatch):
    codex.llm.queue("It keeps the first two rows.")
    run_magic(ipshell, "explain 2")
    assert "Explain cell 2 (id c-merge)." in last_user_message(codex.llm)
    with pytest.raises(UsageError, match="no cell 9"):
        run_magic(ipshell, "explain 9")
    codex.last_error = None
    monkeypatch.delattr(sys, "last_value", raising=False)
    with pytest.raises(UsageError, match="nothing to explain"):
        run_magic(ipshell, "explain")


def test_review_proposes_fixes(codex, ipshell):
    codex.llm.queue(proposal_reply(replace("c-load", "rows = [1, 2, 3, 4]"), explanation="math is unused"))
    run_magic(ipshell, "review")
    assert "Review the notebook" in codex.llm.requests[-1]["messages"][0]["content"]
    assert codex.last_view.proposal.explanation == "math is unused"


# -- info subcommands -----------------------------------------------------------------------------------

def test_context_preview_has_sections_and_token_counts(codex, ipshell):
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        run_magic(ipshell, "context the merge")
    text = cap.outputs[-1].data["text/plain"]
    assert "notebook" in text and "total" in text and "merged = rows[:2]" in text
    assert not codex.llm.requests  # a preview never calls the model


def test_repo_flag_points_the_context_at_another_repository(codex, ipshell, tmp_path):
    from IPython.utils.capture import capture_output

    repo = tmp_path / "elsewhere"
    (repo / ".git").mkdir(parents=True)
    (repo / "ledger.py").write_text("def reconcile_ledger(rows):\n    return [r for r in rows if r]\n")
    with capture_output() as cap:
        run_magic(ipshell, f"context --repo {repo} reconcile the ledger")
    assert "ledger.py" in cap.outputs[-1].data["text/plain"]
    codex.llm.queue("Use reconcile_ledger.")
    run_magic(ipshell, f"ask --repo {repo} how do I reconcile the ledger")
    assert "reconcile_ledger" in last_user_message(codex.llm)


def test_models_and_config(codex, ipshell):
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        run_magic(ipshell, "models")
        run_magic(ipshell, "config validate_mode=full")
    assert "openai:" in cap.outputs[0].data["text/plain"]
    assert "'full'" in cap.outputs[1].data["text/plain"]
    with pytest.raises(UsageError, match="KEY=VALUE"):
        run_magic(ipshell, "config colour=red")
    with pytest.raises(UsageError, match="invalid value"):
        run_magic(ipshell, "config validate_mode=sometimes")


def test_history_lists_this_notebooks_events(codex, ipshell):
    from IPython.utils.capture import capture_output

    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows")))
    run_magic(ipshell, "", "fix the merge")
    codex.last_view.reject_all.click()
    with capture_output() as cap:
        run_magic(ipshell, "history")
    text = cap.outputs[-1].data["text/plain"]
    assert "propose" in text and "reject" in text and codex.last_view.proposal.id in text


def test_undo_reverts_the_last_accepted_edit(codex, ipshell):
    before = codex.lab.source("c-merge")
    codex.llm.queue(proposal_reply(replace("c-merge", "merged = rows"), {"op": "insert", "cell_id": "c-check",
                                                                         "cell_type": "code", "source": "assert total == 10"}))
    run_magic(ipshell, "", "fix and check")
    codex.last_view.accept_all.click()
    codex.last_view.acceptance.wait(10)
    assert len(codex.lab.nb.cells) == 4
    run_magic(ipshell, "undo")  # the page answers after the cell: wait for it
    deadline = time.monotonic() + 10
    while len(codex.lab.nb.cells) != 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert codex.lab.source("c-merge") == before and len(codex.lab.nb.cells) == 3
    while not events("undone") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert events("undone")
    with pytest.raises(UsageError, match="no accepted edit to undo"):
        run_magic(ipshell, "undo")


# -- new notebooks --------------------------------------------------------------------------------------

def test_notebook_subcommand_writes_and_validates(codex, ipshell, tmp_path):
    codex.llm.queue(proposal_reply({"op": "insert", "cell_id": "end", "cell_type": "markdown", "source": "# Squares"},
                                   {"op": "insert", "cell_id": "end", "cell_type": "code", "source": "sq = [i * i for i in range(4)]"}))
    run_magic(ipshell, 'notebook squares.ipynb "a list of squares"')
    made = nbformat.read(str(tmp_path / "squares.ipynb"), as_version=4)
    assert [c.cell_type for c in made.cells] == ["markdown", "code"]
    assert codex.validator.calls[-1]["mode"] == "full"
    with pytest.raises(UsageError, match="already exists"):
        run_magic(ipshell, 'notebook squares.ipynb "again"')
    with pytest.raises(UsageError, match="needs a path and a description"):
        run_magic(ipshell, "notebook only.ipynb")


def test_failing_new_notebook_is_not_kept(codex, ipshell, tmp_path):
    codex.llm.queue(proposal_reply({"op": "insert", "cell_id": "end", "cell_type": "code", "source": "nope"}))

    def failing(path, **kw):
        report = FakeValidator()(path, **kw)
        report.ok, report.failed = False, {"cell_id": None, "message": "NameError: nope", "traceback": []}
        return report

    codex.validator = failing
    run_magic(ipshell, 'notebook broken.ipynb "anything"')
    assert not (tmp_path / "broken.ipynb").exists()
    assert events("rolled_back")
