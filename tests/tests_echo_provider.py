"""A third-party provider as a plugin package would ship it (used by test_providers)."""
from codex_nb.providers.base import Completion, Provider, TextDelta


class EchoProvider(Provider):
    name = "echo"

    def stream(self, messages, **kw):
        text = f"{self.model.upper()}: {messages[-1]['content']}"
        yield TextDelta(text)
        yield Completion(text, self.model_id)
