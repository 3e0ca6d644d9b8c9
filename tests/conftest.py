import os

import pytest

from scripted_llm import ScriptedLLM  # noqa: E402  (tests/ is on sys.path via rootdir conftest)

# Keys of the person running the tests must never reach a test, and no test may
# fall back to a real provider: every model a test talks to is on loopback.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "CODEX_NB_MODEL", "OPENAI_ORG_ID"):
    os.environ.pop(_var, None)


@pytest.fixture
def scripted_llm(monkeypatch, tmp_path):
    """A real OpenAI-compatible server on 127.0.0.1 with scripted replies; the env points codex-nb at it."""
    llm = ScriptedLLM().start()
    monkeypatch.setenv("OPENAI_BASE_URL", llm.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("CODEX_NB_MODEL", "openai:scripted-model")
    monkeypatch.setenv("CODEX_NB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    yield llm
    llm.stop()
