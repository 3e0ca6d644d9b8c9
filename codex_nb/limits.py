"""Bounds on every input, and the text clean-up that makes any input safe to store.

Every door checks what it receives against these bounds as it arrives (request
bodies: per route, in server/body_caps.py; instructions, attachments, summaries, audit fields, model answers), so
that no single request can hold the CPU, the memory or the log hostage. Strings
that cannot be written as UTF-8 (lone surrogates from a JSON escape) are repaired
rather than refused, so history and audit are always written.
"""
from __future__ import annotations

from .errors import ProviderError, UsageProblem

MAX_JSON_DEPTH = 100  # nbformat needs about 10; deeper is an attack or a bug
MAX_INSTRUCTION_CHARS = 20_000
MAX_ATTACHMENTS = 20
MAX_SUMMARY_CHARS = 20_000  # one @variable summary as a front end sends it
MAX_ATTACHMENT_CHARS = 20_000  # one attached file, after redaction
MAX_ATTACHMENTS_TOTAL_CHARS = 200_000
MAX_ANSWER_CHARS = 200_000  # a model answer; reading stops here (proposals are bounded far below)


class InputTooLarge(UsageProblem):
    """An input above its bound: ``what`` it was, its ``size`` and the ``limit`` (in ``unit``)."""

    def __init__(self, what: str, size: int, limit: int, unit: str = "characters", hint: str = ""):
        super().__init__(f"{what} is too large ({size:,} {unit}; the limit is {limit:,})",
                         hint=hint or f"send less: shorten {what} or attach a smaller part",
                         what=what, size=size, limit=limit, unit=unit)
        self.what, self.size, self.limit, self.unit = what, size, limit, unit


class AnswerTooLarge(ProviderError):
    """The model kept writing past ``limit`` characters: reading stopped there and the answer is not retried."""

    def __init__(self, where: str, limit: int):
        super().__init__(f"the answer from {where} passed {limit:,} characters; reading stopped there",
                         hint="ask for a smaller change, or lower max_answer_tokens so the model stops sooner",
                         where=where, limit=limit)
        self.limit = limit


class TooDeep(UsageProblem):
    def __init__(self, what: str, limit: int):
        super().__init__(f"{what} is nested more than {limit} levels deep",
                         hint="send plain nbformat JSON; deeply nested values cannot be read", what=what, limit=limit)


class TooManyValues(UsageProblem):
    """A JSON document with more than ``limit`` values; ``count`` is how many were read before reading stopped."""

    def __init__(self, what: str, count: int, limit: int):
        super().__init__(f"{what} holds too many JSON values: {count:,} read and the limit is {limit:,}",
                         hint="send less (a notebook with its large outputs cleared, fewer attachments), or raise "
                              "c.CodexNB.max_request_values in codex_nb_config.py (any Jupyter config directory; "
                              "read for every request, no restart needed)", what=what, count=count, limit=limit)
        self.count, self.limit = count, limit


def check_chars(what: str, text: str, limit: int, hint: str = "") -> str:
    if len(text) > limit:
        raise InputTooLarge(what, len(text), limit, hint=hint)
    return text


def check_depth(obj, what: str, limit: int = MAX_JSON_DEPTH) -> int:
    """Raise TooDeep when lists/objects nest deeper than ``limit`` (iterative: no recursion to run out of).

    Returns how many JSON values ``obj`` holds, itself included (what TooManyValues bounds).
    """
    stack, values = [(obj, 1)], 1
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            raise TooDeep(what, limit)
        values += len(children)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return values


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 cannot hold) replaced by U+FFFD; pairs become their character."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit:,} characters omitted]"


