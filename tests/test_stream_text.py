"""A proposal's explanation is what streams to the user, not its JSON."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from codex_nb.edits.stream_text import ExplanationStream


def shown(deltas) -> str:
    reader = ExplanationStream()
    return "".join(reader.feed(d) for d in deltas)


def split(text: str, sizes) -> list[str]:
    out, i = [], 0
    for size in sizes:
        if i >= len(text):
            break
        out.append(text[i: i + size])
        i += size
    return out + ([text[i:]] if i < len(text) else [])


def test_only_the_explanation_of_a_proposal_is_shown():
    answer = json.dumps({"explanation": "Use `df.dropna()`: rows with a missing price broke the total.",
                         "edits": [{"op": "replace", "cell_id": "c1", "source": "df = df.dropna()"}]})
    assert shown(split(answer, [3] * 1000)) == "Use `df.dropna()`: rows with a missing price broke the total."


@settings(max_examples=200, deadline=None)
@given(st.text(), st.lists(st.integers(min_value=1, max_value=7), max_size=400), st.booleans())
def test_any_explanation_survives_any_split_and_escaping(explanation, sizes, ascii_only):
    answer = json.dumps({"explanation": explanation, "edits": []}, ensure_ascii=ascii_only)
    assert shown(split(answer, sizes or [1])) == explanation


def test_prose_answers_pass_through_and_a_fenced_proposal_is_read():
    assert shown(["The variable ", "holds 2."]) == "The variable holds 2."
    fenced = '```json\n{"explanation": "Fixed the typo.", "edits": []}\n```'
    assert shown(split(fenced, [4] * 100)) == "Fixed the typo."
