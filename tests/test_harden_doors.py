"""Every door against a recording model on loopback, with a repository, notebook and kernel seeded
with every secret form: no seeded value in any request body, in the history or in the index cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel
from nbformat.v4 import new_code_cell, new_notebook, new_output

from harden_secrets import FORMS, VALUES

PRIVATE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def seeded_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='app'\n")
    lines = "\n".join(f"# {text.splitlines()[0]}" if "\n" in text else f"# {text}" for text, _v in FORMS)
    (root / "app" / "settings.py").write_text(f'"""Connection settings for the ledger."""\n{lines}\n'
                                             "def ledger_connection():\n    return 1\n")
    (root / "app" / "config.py").write_text("\n".join(f'CFG_{k} = """{text}"""' for k, (text, _v) in enumerate(FORMS))
                                           + "\n\ndef ledger_config():\n    return CFG_0\n")
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join([PRIVATE_KEY_BODY] * 60) + "\n-----END RSA PRIVATE KEY-----"
    nb = new_notebook(cells=[
        new_code_cell("from app.settings import ledger_connection\nprint(open('id_rsa').read())", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text=key)]),
        new_code_cell("connect()", execution_count=2, outputs=[new_output(
            "error", ename="OperationalError", evalue=FORMS[0][0], traceback=[FORMS[0][0], FORMS[6][0]])]),
    ])
    nbformat.write(nb, root / "ledger.ipynb")
    return root


def assert_clean(text: str, where: str) -> None:
    for value in [*VALUES, PRIVATE_KEY_BODY]:
        assert value not in text, f"{value!r} reached {where}"


def test_cli_sends_no_seeded_secret_and_caches_none(scripted_llm, tmp_path):
    root = seeded_repo(tmp_path)
    scripted_llm.queue({"explanation": "Nothing to change.", "edits": []})
    env = {**os.environ, "CODEX_NB_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    instruction = f"the ledger connection fails: {FORMS[2][0]} {FORMS[12][0]}"
    done = subprocess.run([sys.executable, "-m", "codex_nb", "propose", str(root / "ledger.ipynb"), instruction, "--quiet"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sent = scripted_llm.all_request_text()
    assert "ledger_connection" in sent and "[REDACTED]" in sent
    assert_clean(sent, "the model")
    cache = "".join(p.read_text() for p in (root / ".codex_nb").rglob("*") if p.is_file())
    assert cache and "ledger_config" in cache
    assert_clean(cache, "the index cache and the audit log")
    assert_clean((tmp_path / "audit.jsonl").read_text(), "the audit log")


def test_magics_in_a_real_kernel_send_no_seeded_secret(scripted_llm, tmp_path):
    root = seeded_repo(tmp_path)
    scripted_llm.queue("It is the password.")
    env = {**os.environ, "CODEX_NB_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(root), env=env)
    try:
        setup = "\n".join([
            "import pandas as pd",
            f"creds = pd.DataFrame({{'api_key': [{VALUES[13]!r}], 'user': ['app']}})",
            f"settings = {{'db': {FORMS[1][0]!r}, 'note': {('x ' * 200) + VALUES[14]!r}}}",
            f"conn_string = {FORMS[12][0]!r}",
            f"db_password = {VALUES[9]!r}",
            "%load_ext codex_nb",
        ])
        reply = kc.execute_interactive(setup, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        kc.execute_interactive(f"raise RuntimeError({FORMS[5][0]!r})", timeout=30)
        line = "%codex ask why does it fail with {conn_string} and {db_password}? see @creds and @settings"
        reply = kc.execute_interactive(line, timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    sent = scripted_llm.all_request_text()
    assert "creds" in sent and "settings" in sent and "[REDACTED]" in sent
    assert_clean(sent, "the model")


def test_cli_prints_an_answer_holding_a_lone_surrogate(scripted_llm, tmp_path):
    root = seeded_repo(tmp_path)
    answer = json.dumps({"explanation": "odd \\ud800 text", "edits": []}).replace("\\\\ud800", "\\ud800")
    chunk = {"choices": [{"index": 0, "delta": {"content": answer}, "finish_reason": "stop"}]}
    body = "data: " + json.dumps(chunk).replace("\\\\ud800", "\\ud800") + "\n\ndata: [DONE]\n\n"
    scripted_llm.queue(raw_body=body.encode())
    env = {**os.environ, "CODEX_NB_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-m", "codex_nb", "propose", str(root / "ledger.ipynb"), "explain", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "odd \ufffd text" in done.stdout and "Traceback" not in done.stderr
