"""One source of settings and one model resolver for every door."""
from __future__ import annotations

import pytest

from codex_nb.engine.settings import resolve_model, resolve_settings
from codex_nb.errors import ConfigurationError
from codex_nb.providers.registry import get_provider


@pytest.fixture(autouse=True)
def jupyter_files_only(monkeypatch):
    """Read the Jupyter config files, as the CLI and the server do (an in-process IPython shell from another
    test would otherwise be the configuration)."""
    monkeypatch.setattr("codex_nb.config._ipython_config", lambda: None)


def test_flags_override_config_and_unset_flags_do_not(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    (tmp_path / "codex_nb_config.json").write_text(
        '{"CodexNB": {"cell_timeout": 7, "validate_mode": "full", "skip_tags": ["slow"], "checks": ["ruff check {files}"]}}')
    base = resolve_settings()
    assert (base.cell_timeout, base.validate_mode, base.skip_tags, base.checks) == (7.0, "full", ("slow",), ("ruff check {files}",))
    flagged = resolve_settings(cell_timeout=3, validate_mode=None, total_timeout=None)
    assert flagged.cell_timeout == 3 and flagged.validate_mode == "full" and flagged.total_timeout == base.total_timeout


def test_the_model_resolver_prefers_flag_then_config_then_env_then_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert resolve_model() == "openai"  # an OpenAI-compatible endpoint is configured: not the embedded model
    monkeypatch.setenv("CODEX_NB_MODEL", "ollama:qwen2.5-coder:7b")
    assert resolve_model() == "ollama:qwen2.5-coder:7b"
    (tmp_path / "codex_nb_config.json").write_text('{"CodexNB": {"model": "anthropic:claude-sonnet-4-5"}}')
    assert resolve_model() == "anthropic:claude-sonnet-4-5"
    assert resolve_model("local:smollm2") == "local:smollm2"
    assert resolve_settings(model="openai:x").model == "openai:x"


def test_a_bare_model_name_gets_a_did_you_mean():
    with pytest.raises(ConfigurationError) as exc:
        get_provider("smollm2")
    assert "did you mean local:smollm2?" in exc.value.hint
