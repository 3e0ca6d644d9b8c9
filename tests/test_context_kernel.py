"""Live kernel state: real pandas objects, bounded previews, skipped names, the last exception."""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from codex_nb.context import build_context
from codex_nb.context.kernel import collect_kernel_state, render_kernel_state, safe_preview


class SlowRepr:
    calls = 0

    def __repr__(self):
        SlowRepr.calls += 1
        time.sleep(10)
        return "never"

    __str__ = __repr__


class HugeRepr:
    def __repr__(self):
        return "x" * 50_000_000


def by_name(state):
    return {v["name"]: v for v in state["variables"]}


def test_dataframe_columns_dtypes_shape_and_preview():
    df = pd.DataFrame({"order_id": range(5000), "amount": np.linspace(0, 1, 5000), "city": ["Oslo"] * 5000})
    state = collect_kernel_state({"orders": df})
    v = by_name(state)["orders"]
    assert v["shape"] == [5000, 3]
    assert v["columns"] == {"order_id": "int64", "amount": "float64", "city": str(df.dtypes["city"])}
    assert "Oslo" in v["preview"] and len(v["preview"]) < 1000
    text = render_kernel_state(state)
    assert "orders: pandas.DataFrame shape=(5000, 3)" in text and "columns: order_id (int64)" in text


def test_dataframe_holding_objects_with_slow_reprs_is_previewed_without_calling_them():
    SlowRepr.calls = 0
    df = pd.DataFrame({"obj": [SlowRepr(), SlowRepr()], "n": [1, 2]})
    start = time.perf_counter()
    v = by_name(collect_kernel_state({"frame": df}))["frame"]
    assert time.perf_counter() - start < 1.0 and SlowRepr.calls == 0
    assert "SlowRepr object" in v["preview"] and v["columns"] == {"obj": "object", "n": "int64"}


def test_arrays_and_containers_report_shape_dtype_len():
    state = collect_kernel_state({"arr": np.zeros((300, 400), dtype=np.float32), "names": ["a"] * 10_000,
                                  "config": {"n": 1}})
    got = by_name(state)
    assert got["arr"]["shape"] == [300, 400] and got["arr"]["dtype"] == "float32"
    assert got["names"]["len"] == 10_000 and "10000 total" in got["names"]["preview"]
    assert got["config"]["preview"] == "{'n': 1}"


def test_slow_and_huge_reprs_are_never_called_and_collection_is_fast():
    SlowRepr.calls = 0
    ns = {"slow": SlowRepr(), "huge": HugeRepr(), "nested": [SlowRepr()], "bigint": 7 ** 100_000,
          "long_text": "y" * 10_000_000}
    start = time.perf_counter()
    state = collect_kernel_state(ns)
    assert time.perf_counter() - start < 1.0
    assert SlowRepr.calls == 0
    got = by_name(state)
    assert got["slow"]["preview"].endswith("SlowRepr object>")
    assert got["huge"]["preview"].endswith("HugeRepr object>")
    assert "digits" in got["bigint"]["preview"]
    assert len(got["long_text"]["preview"]) < 400 and got["long_text"]["len"] == 10_000_000


def test_function_defaults_are_previewed_without_calling_their_repr():
    SlowRepr.calls = 0

    def fit(data, model=SlowRepr(), *args, alpha=0.5, **kw):
        return data

    fit.__module__ = "__main__"
    v = by_name(collect_kernel_state({"fit": fit}))["fit"]
    assert SlowRepr.calls == 0
    assert v["preview"] == "fit(data, model=<test_context_kernel.SlowRepr object>, *args, alpha=0.5, **kw)"


def test_time_and_count_limits_truncate_instead_of_blocking():
    ns = {f"v{k:03d}": list(range(50)) for k in range(200)}
    state = collect_kernel_state(ns, max_vars=10)
    assert len(state["variables"]) == 10 and state["truncated"] and state["omitted"] == 190
    state = collect_kernel_state(ns, time_limit=0.0)
    assert len(state["variables"]) <= 1 and state["truncated"]


def test_modules_library_functions_private_names_and_ipython_are_skipped():
    def user_helper(x, y=2):
        return x + y

    user_helper.__module__ = "__main__"
    ns = {"np": np, "pd": pd, "read_csv": pd.read_csv, "DataFrame": pd.DataFrame, "_hidden": 1, "_": 2,
          "In": [], "Out": {}, "exit": None, "user_helper": user_helper, "total": 3}
    names = set(by_name(collect_kernel_state(ns)))
    assert names == {"user_helper", "total"}
    assert by_name(collect_kernel_state(ns))["user_helper"]["preview"] == "user_helper(x, y=2)"


def test_secret_named_variables_are_redacted():
    ns = {"OPENAI_API_KEY": "sk-proj-" + "a" * 40, "db_password": "hunter2", "settings": {"api_key": "k" * 30}}
    state = collect_kernel_state(ns)
    text = render_kernel_state(state)
    assert "hunter2" not in text and "aaaa" not in text and "kkkk" not in text
    assert by_name(state)["db_password"]["preview"] == "[REDACTED]"


def test_secret_values_are_redacted_whatever_the_variable_name():
    ns = {"conn": "postgresql://admin:pa55word@db/sales", "headers": {"Authorization": "Bearer ghp_" + "x" * 36}}
    got = by_name(collect_kernel_state(ns))
    assert "pa55word" not in got["conn"]["preview"] and got["conn"]["redacted"]
    assert "xxxx" not in got["headers"]["preview"]


def test_last_exception_with_traceback_and_cell():
    try:
        {}["missing_column"]
    except KeyError:
        exc = sys.exc_info()
    state = collect_kernel_state({}, last_exception=exc)
    info = state["last_exception"]
    assert info["type"] == "KeyError" and "missing_column" in info["message"]
    assert "Traceback (most recent call last)" in info["traceback"]
    text = render_kernel_state(state)
    assert "Last exception: KeyError: 'missing_column'" in text


def test_safe_preview_of_nested_builtins_is_bounded():
    deep = [[list(range(1000)) for _ in range(100)] for _ in range(100)]
    assert len(safe_preview(deep)) < 400


def test_kernel_section_in_build_context(tmp_path):
    state = collect_kernel_state({"orders": pd.DataFrame({"a": [1, 2]})})
    ctx = build_context(query="why", repo=tmp_path, kernel_state=state, use_cache=False)
    assert [s.name for s in ctx.sections] == ["kernel", "repository"]
    assert "orders: pandas.DataFrame shape=(2, 1)" in ctx.section("kernel").text
