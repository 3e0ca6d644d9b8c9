"""A free-text answer that falls into a loop is stopped and kept up to the loop's first copy, with a note —
the same in the pipeline the CLI and the magics use (``assistant.run``) and the one the server uses
(``assistant.arun``); answers that do not loop, and proposals, are left as the model wrote them."""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from codex_nb import assistant
from codex_nb.providers.base import TextDelta
from codex_nb.providers.repetition import NOTE, RepetitionStop, loop_start
from nb_factory import write_notebook
from test_magics_fixtures import wait_for

ROOT = Path(__file__).resolve().parents[1]
# What SmolLM2-135M answered to "what does the DataFrame df contain?" in the quickstart, until the token cap.
HEAD = "The DataFrame df contains the following columns:\n\n- `x` (int64): the column name\n"
LOOP = "- `y` (int64): the column type\n- `x` (int64): the column type\n"
LOOPING = HEAD + LOOP * 40


def streamed(text: str, seed: int = 0) -> RepetitionStop:
    """``text`` fed as a model streams it: pieces of 1 to 9 characters."""
    stop, rng, i = RepetitionStop(None), random.Random(seed), 0
    while i < len(text) and not stop.feed(TextDelta(text[i:(i := i + rng.randint(1, 9))])):
        pass
    return stop


def test_the_embedded_models_loop_is_cut_after_its_first_copy():
    assert LOOPING[: loop_start(LOOPING)] == HEAD + LOOP
    stop = streamed(LOOPING)
    assert stop.kept == (HEAD + LOOP).rstrip() and stop.event.is_set()


def test_a_loop_within_a_line_is_cut_too():
    text = "The answer is" + " data" * 80
    assert streamed(text).kept == "The answer is data"


def test_answers_that_do_not_loop_are_left_alone():
    # every text file of this repository as if a model had written it: documentation, code, notebooks
    texts = [p.read_text(encoding="utf-8") for pattern in ("*.md", "docs/*.md", "codex_nb/**/*.py", "tests/*.py",
                                                           "examples/*.ipynb", "labextension/src/*.ts")
             for p in sorted(ROOT.glob(pattern))]
    texts += ["| a | b |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(30)),
              "```python\n" + "plt.show()\n\n" * 3 + "```\n",  # a few repeats are ordinary
              "=" * 60 + "\n" + "-" * 60 + "\n", " " * 300 + "x\n" + "\n" * 40 + "end"]
    assert len(texts) > 100
    for n, text in enumerate(texts):
        stop = streamed(text, seed=n)
        assert stop.kept is None, (n, text[:200])


def test_a_person_cancelling_is_still_a_cancel():
    import threading

    cancel = threading.Event()
    stop = RepetitionStop(cancel)
    assert not stop.event.is_set()
    cancel.set()
    assert stop.event.is_set()  # the provider polls one event for both


@pytest.fixture
def notebook(tmp_path):
    (tmp_path / ".git").mkdir()
    return write_notebook(tmp_path / "nb.ipynb", {"only": "import pandas as pd\ndf = pd.DataFrame({'x': [1]})"})


def _looped_as_expected(result, shown: list[str], scripted_llm) -> None:
    assert result.text == f"{(HEAD + LOOP).rstrip()}\n\n{NOTE}" and not result.cancelled
    seen = "".join(shown)
    assert seen.endswith(f"{NOTE}\n") and seen.count(LOOP) < 8  # the person saw the loop begin, then the note
    stream = scripted_llm.chat_streams[-1]
    wait_for(lambda: stream["ended"], 4)  # the server notices the closed connection at its next write
    assert stream["ended"] and not stream["completed"] and stream["sent"] < stream["total"] // 2  # the model stopped


def test_run_stops_a_looping_answer_and_keeps_it_once(notebook, scripted_llm, tmp_path):
    scripted_llm.queue(HEAD + LOOP * 200, chunk_size=8, chunk_delay=0.002)
    shown: list[str] = []
    result = assistant.run("ask", "what does the DataFrame df contain?", notebook=notebook, on_delta=shown.append)
    _looped_as_expected(result, shown, scripted_llm)
    logged = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert "asked" in logged  # a cut answer is an answer, recorded


def test_arun_stops_a_looping_answer_and_keeps_it_once(notebook, scripted_llm):
    from codex_nb.providers.clients import close_async_clients

    scripted_llm.queue(HEAD + LOOP * 200, chunk_size=8, chunk_delay=0.002)
    shown: list[str] = []

    async def main():
        try:
            return await assistant.arun("ask", "what does df contain?", notebook=notebook, on_delta=shown.append)
        finally:
            await close_async_clients()

    _looped_as_expected(asyncio.run(main()), shown, scripted_llm)


def test_a_proposal_whose_explanation_repeats_is_not_cut(notebook, scripted_llm):
    explanation = "Adds the cell.\n" + "The same line.\n" * 12
    scripted_llm.queue({"explanation": explanation, "edits": [{"op": "insert", "new_id": "n1", "source": "x = 2"}]},
                       chunk_size=8)
    result = assistant.run("propose", "add a cell", notebook=notebook)
    assert result.proposal is not None and result.proposal.explanation == explanation.strip()


def test_a_loop_that_begins_inside_a_word_is_cut_at_the_end_of_the_word():
    # what SmolLM2 answered once: the period starts inside "dataframe", so its first copy starts mid-word
    text = "the live var are the DataFrame, the dataframe, the DataF" + "rame, the DataF" * 30
    assert streamed(text).kept == "the live var are the DataFrame, the dataframe, the DataFrame"


def test_a_loop_whose_numbers_count_up_is_a_loop_but_a_table_of_numbers_is_not():
    # SmolLM2 again: the same line with a growing number until the token cap
    counted = "Files:\n\n" + "".join(f"# {n}. shop_project/shop/report.py — mentions to_eur, report\n\n" for n in range(60, 90))
    assert streamed(counted).kept == "Files:\n\n# 60. shop_project/shop/report.py — mentions to_eur, report"
    squares = "".join(f"| {n} | {n * n} |\n" for n in range(40))
    steps = "".join(f"{n}. step {n}\n" for n in range(1, 30))
    assert streamed(squares).kept is None and streamed(steps).kept is None


def test_a_block_of_several_lines_whose_numbers_count_up_is_a_loop():
    # SmolLM2 explaining an error: an invented cell listing, four lines a cell, until the token cap
    listing = "The last error:\n\n" + "".join(f"# cell {n} id=fix-{n + 3} [code] In[ ]\n# In[ ]\n#\n\n" for n in range(2, 40))
    assert streamed(listing).kept == "The last error:\n\n# cell 2 id=fix-5 [code] In[ ]\n# In[ ]\n#"
