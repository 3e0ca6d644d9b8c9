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


def test_validation_safety_settings_come_from_config_then_environment_then_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    for name in ("CODEX_NB_VALIDATE_IN_PLACE", "CODEX_NB_VALIDATE_NETWORK", "CODEX_NB_VALIDATE_SCRATCH_MB"):
        monkeypatch.delenv(name, raising=False)
    default = resolve_settings()
    # The documented defaults: a scratch copy, network allowed, 200 MB copied.
    assert (default.validate_in_place, default.validate_network, default.validate_scratch_mb) == (False, True, 200.0)
    (tmp_path / "codex_nb_config.json").write_text(
        '{"CodexNB": {"validate_in_place": true, "validate_network": false, "validate_scratch_mb": 5}}')
    configured = resolve_settings()
    assert (configured.validate_in_place, configured.validate_network, configured.validate_scratch_mb) == (True, False, 5.0)
    monkeypatch.setenv("CODEX_NB_VALIDATE_IN_PLACE", "0")
    monkeypatch.setenv("CODEX_NB_VALIDATE_NETWORK", "on")
    monkeypatch.setenv("CODEX_NB_VALIDATE_SCRATCH_MB", "7.5")
    env = resolve_settings()
    assert (env.validate_in_place, env.validate_network, env.validate_scratch_mb) == (False, True, 7.5)
    flagged = resolve_settings(validate_in_place=True, validate_network=None, validate_scratch_mb=1)
    assert (flagged.validate_in_place, flagged.validate_network, flagged.validate_scratch_mb) == (True, True, 1.0)


def test_a_scratch_size_that_is_not_a_number_says_how_to_fix_it(monkeypatch, tmp_path):
    from codex_nb.validate import ValidationUsageError

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("CODEX_NB_VALIDATE_SCRATCH_MB", "lots")
    with pytest.raises(ValidationUsageError) as exc:
        resolve_settings()
    assert "CODEX_NB_VALIDATE_SCRATCH_MB" in exc.value.message and "megabytes" in exc.value.hint
