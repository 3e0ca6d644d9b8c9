"""End to end: seeded secrets in the notebook, kernel and repository never reach the model server."""
from __future__ import annotations

from codex_nb import assistant
from codex_nb.context.kernel import collect_kernel_state

from test_context_redact import SECRETS, OPENAI, secret_repo


def test_seeded_secrets_never_reach_the_scripted_model_server(scripted_llm, tmp_path):
    root = secret_repo(tmp_path)
    kernel = collect_kernel_state({"openai_api_key": OPENAI, "settings": {"password": "hunter2hunter2"},
                                   "note": f"token is {OPENAI}"})
    scripted_llm.queue("The connection string comes from app/settings.py.")
    result = assistant.run("ask", "How is the database connection configured?", notebook=root / "analysis.ipynb",
                           repo=root, kernel_state=kernel)
    assert result.text.startswith("The connection string")
    sent = scripted_llm.all_request_text()
    assert "app/settings.py" in sent and "database_connection" in sent  # the context did reach the model
    for secret in [*SECRETS, "hunter2hunter2"]:
        assert secret not in sent, secret
    assert "ENV_ONLY_MARKER" not in sent
