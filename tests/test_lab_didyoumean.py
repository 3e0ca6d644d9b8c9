"""`--model smollm2` → "did you mean local:smollm2?", and no suggestion where none fits."""
from codex_nb.didyoumean import did_you_mean, suggest_model

KNOWN = ["openai", "ollama", "anthropic", "local", "local:smollm2", "openai:gpt-4.1-mini", "anthropic:claude-sonnet-4-5"]


def test_a_bare_model_name_finds_its_provider():
    assert suggest_model("smollm2", KNOWN) == "local:smollm2"
    assert suggest_model("SmolLM2", KNOWN) == "local:smollm2"
    assert suggest_model("smollm", KNOWN) == "local:smollm2"  # close to the model part
    assert did_you_mean("smollm2", KNOWN) == "did you mean local:smollm2?"


def test_a_mistyped_provider_keeps_its_model():
    assert suggest_model("olama:qwen2.5-coder:7b", KNOWN) == "ollama:qwen2.5-coder:7b"
    assert suggest_model("antropic:claude-sonnet-4-5", KNOWN) == "anthropic:claude-sonnet-4-5"
    assert suggest_model("opnai", KNOWN) == "openai"


def test_nothing_close_means_no_suggestion():
    assert suggest_model("mistral-large", KNOWN) is None
    assert suggest_model("local:smollm2", KNOWN) is None  # already known
    assert suggest_model("", KNOWN) is None
    assert did_you_mean("zzz", KNOWN) == ""
