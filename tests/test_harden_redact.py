"""Redaction knows every form, runs before any cutting, and stays linear on megabytes of input."""
from __future__ import annotations

import json
import threading

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from codex_nb.context import build_context
from codex_nb.context.kernel import safe_preview, variable_summary
from codex_nb.context.rank import Query
from codex_nb.context import redact
from codex_nb.context.redact import redact_text
from codex_nb.edits.stream_text import ExplanationStream
from codex_nb.limits import bound_fields
from harden_secrets import FORMS

KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


@pytest.mark.parametrize("text,value", FORMS)
def test_every_form_is_redacted(text, value):
    out, kinds = redact_text(text)
    assert value not in out and "[REDACTED]" in out and kinds


@pytest.mark.parametrize("text,value", [
    (r"S4 = '[db]\nuser = app\npassword = Ini-Escaped-Pass-28\n'", "Ini-Escaped-Pass-28"),  # a repr of an INI text
    (r'{"log": "\n\tapi_key: \"k3y-in-escaped-json\""}', "k3y-in-escaped-json"),  # JSON inside a JSON string
])
def test_secrets_inside_escaped_strings_are_redacted(text, value):
    assert value not in redact_text(text)[0]


def test_ordinary_code_is_left_alone():
    code = ("password = os.environ['DB_PASSWORD']\ntoken = get_token()\nsort_key = 'name'\n"
            "first_pass = True\nmax_tokens = 512\nkey = row['id']\n")
    assert redact_text(code) == (code, [])


def test_a_private_key_whose_begin_line_would_be_trimmed_is_still_redacted(tmp_path):
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join([KEY_BODY] * 200) + "\n-----END RSA PRIVATE KEY-----"
    nb = new_notebook(cells=[new_code_cell("print(key)", execution_count=1,
                                           outputs=[new_output("stream", name="stdout", text=key)])])
    (tmp_path / ".git").mkdir()
    text = build_context(notebook=nb, repo=tmp_path, use_cache=False).render()
    assert "lines omitted" in text and KEY_BODY not in text


def test_a_preview_is_redacted_before_it_is_cut():
    value = "x " * 140 + "sk-proj-" + "Tq3xVb9Lm2Np8Rs4Wu6Yz1Ac5Ef7Gh0Jk"
    assert "sk-proj-" not in safe_preview(value) and "[REDACTED]" in safe_preview(value)
    assert "sk-proj-" not in variable_summary("note", value)


def test_custom_patterns_from_the_configuration(monkeypatch):
    from codex_nb import config

    real = config.load_config

    def with_pattern():
        c = real()
        c.redact_patterns = [r"ACME-\d{6}"]
        return c
    monkeypatch.setattr(config, "load_config", with_pattern)
    monkeypatch.setattr(redact, "_custom_cache", None)  # the patterns are re-read every few seconds
    assert redact_text("ticket ACME-123456 open")[0] == "ticket [REDACTED] open"


def test_audit_fields_are_bounded_and_writable():
    fields = bound_fields({"text": "a" * 100_000 + "\ud800", "items": list(range(10_000)), "deep": [[[[[[[[[[1]]]]]]]]]]})
    json.dumps(fields, ensure_ascii=False).encode("utf-8")
    assert len(fields["text"]) < 5000 and len(fields["items"]) == 201 and "nested too deeply" in json.dumps(fields["deep"])


def finishes(fn, seconds: float = 60.0) -> None:
    """Run ``fn`` and fail if it has not returned after ``seconds`` (quadratic work on megabytes takes hours)."""
    errors = []
    worker = threading.Thread(target=lambda: errors.append(None) if fn() is None else None, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "did not finish: the work is not linear"


@pytest.mark.parametrize("make", [
    lambda: "a" * 5_000_000,
    lambda: "key=" * 250_000,
    lambda: "://" * 400_000,
    lambda: "password='" * 100_000,
    lambda: "a." * 1_000_000,
    lambda: "x/" * 1_000_000 + ".py",
    lambda: "Bearer " * 300_000,
], ids=["word-run", "assignments", "schemes", "open-quotes", "dotted", "path-run", "bearer-run"])
def test_megabytes_of_hostile_text_are_redacted_and_ranked_in_linear_time(make):
    text = make()
    finishes(lambda: Query().add_text(redact_text(text)[0]))


def test_unterminated_terminal_escapes_are_stripped_in_linear_time():
    from codex_nb.context.notebook import strip_ansi

    assert strip_ansi("\x1b[31mred\x1b[0m \x1b]0;title\x07ok") == "red ok"
    finishes(lambda: strip_ansi("\x1b]" * 2_000_000))


def test_a_5mb_streamed_explanation_is_read_in_linear_time():
    answer = json.dumps({"explanation": "word \\n" * 700_000, "edits": []})

    def read():
        reader = ExplanationStream()
        shown = sum(len(reader.feed(answer[i: i + 16])) for i in range(0, len(answer), 16))
        assert shown > 4_000_000
    finishes(read)


def test_a_symlink_to_a_credential_file_is_not_indexed(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".env").write_text("OPENAI_API_KEY=envonlyvalue\nENV_MARKER_NAME = 1\n")
    (tmp_path / "innocent.py").symlink_to(tmp_path / ".env")
    (tmp_path / "real.py").write_text("def real():\n    return 1\n")
    ctx = build_context(query="ENV_MARKER_NAME", repo=tmp_path, use_cache=False)
    dumped = json.dumps(ctx.to_json())
    assert "envonlyvalue" not in dumped
    assert not any(f["path"] == "innocent.py" for f in ctx.files)
    assert any(p["path"] == "innocent.py" and "never read" in p["reason"] for p in ctx.problems)


def test_never_read_judges_symlink_targets_and_codexignore_entries(tmp_path):
    from codex_nb.context.redact import never_read_path

    (tmp_path / ".codexignore").write_text("private/\n")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "notes.py").write_text("x = 1\n")
    (tmp_path / ".env").write_text("A=1\n")
    (tmp_path / "link.py").symlink_to(tmp_path / ".env")
    (tmp_path / "alias.py").symlink_to(tmp_path / "private" / "notes.py")
    (tmp_path / "ok.py").write_text("y = 2\n")
    for name in (".env", "link.py", "private/notes.py", "alias.py"):
        assert never_read_path(tmp_path / name, tmp_path), name
    assert not never_read_path(tmp_path / "ok.py", tmp_path)
