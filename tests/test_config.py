"""Settings: traitlets configuration read from Jupyter config files."""
import json


def test_configuration_files_are_read_again_when_they_change(tmp_path, monkeypatch):
    from codex_nb import config as config_mod
    from codex_nb.config import load_config

    # as in the CLI or the server: an IPython shell started by another test would answer instead of the files
    monkeypatch.setattr(config_mod, "_ipython_config", lambda: None)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    config = tmp_path / "codex_nb_config.json"
    assert load_config().model == ""
    config.write_text(json.dumps({"CodexNB": {"model": "ollama:first"}}))
    assert load_config().model == "ollama:first"
    load_config().model = "changed by a caller"  # callers get their own settings object
    assert load_config().model == "ollama:first"
    config.write_text(json.dumps({"CodexNB": {"model": "ollama:second-model"}}))
    assert load_config().model == "ollama:second-model"
    config.unlink()
    assert load_config().model == ""
