"""Live kernel state: what the user's variables are, without risking the kernel.

Runs inside the user's kernel, so it must be bounded: a total time limit, a
cap on variables, and no call to a ``repr`` that could be huge or slow. Values
of builtin types are previewed by our own bounded walker; pandas and numpy
objects through their own size-aware formatters on a small slice; any other
object only by its type name. Variables whose names say they hold a secret
are never previewed.
"""
from __future__ import annotations

import linecache
import time
import traceback
import types

from .redact import REDACTED, is_secret_name, redact_text

PREVIEW_CHARS = 300
_REDACT_MARGIN = 1024  # read this much past a preview's cut, so a secret that straddles it is still whole
MAX_SUMMARY_CHARS = 4000  # one variable's summary, whatever the door that asks for it
_HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_ATOMS = (int, float, complex, bool, type(None))


def _qualname(obj) -> str:
    t = type(obj)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def _is_library_callable(value) -> bool:
    mod = getattr(value, "__module__", None)
    return mod not in (None, "__main__") and not str(mod).startswith("ipykernel")


def _skip(name: str, value) -> bool:
    if name.startswith("_") or name in _HIDDEN:
        return True
    if isinstance(value, types.ModuleType):
        return True
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)) and _is_library_callable(value):
        return True  # imported functions and classes are library API, not user state
    return type(value).__module__.startswith(("IPython.", "ipykernel."))


def safe_preview(value, limit: int = PREVIEW_CHARS, _depth: int = 0) -> str:
    """A repr that never calls user ``__repr__`` and never builds a string bigger than needed."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() of a huge int is quadratic
            return f"<int with {int(value.bit_length() * 0.30103)} digits>"
        return repr(value)
    if isinstance(value, (str, bytes)):
        # redacted before it is cut: a key cut below its pattern's length would pass unrecognised
        r = redact_text(repr(value[: limit + _REDACT_MARGIN]))[0]
        return r if len(r) <= limit + 2 and len(value) <= limit else r[:limit] + f"… ({len(value)} total)"
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if _depth >= 2:
            return f"<{type(value).__name__} of {len(value)}>"
        items, used = [], 0
        it = iter(value.items()) if isinstance(value, dict) else iter(value)
        if isinstance(value, (set, frozenset)):
            it = iter(list(value)[:20])
        for k, item in enumerate(it):
            if k >= 20 or used > limit:
                items.append(f"… ({len(value)} total)")
                break
            if isinstance(value, dict):
                key, val = item
                shown_val = REDACTED if isinstance(key, str) and is_secret_name(key) else \
                    safe_preview(val, limit // 3, _depth + 1)
                s = f"{safe_preview(key, 60, _depth + 1)}: {shown_val}"
            else:
                s = safe_preview(item, limit // 3, _depth + 1)
            items.append(s)
            used += len(s) + 2
        open_, close = {"list": "[]", "tuple": "()", "dict": "{}"}.get(type(value).__name__, "{}")
        return (open_ + ", ".join(items) + close)[: limit + 40]
    mod = type(value).__module__.split(".")[0]
    if mod in ("pandas", "numpy"):
        return _array_preview(value, limit)
    if mod in ("datetime", "decimal", "fractions", "pathlib", "uuid"):
        return repr(value)[:limit]
    return f"<{_qualname(value)} object>"


def _array_preview(value, limit: int) -> str:
    try:
        t = type(value).__name__
        if t == "DataFrame":
            return _table_preview(value, limit)
        if t == "Series":
            secret = isinstance(value.name, str) and is_secret_name(value.name)
            items = [f"{safe_preview(k, 30)}: "
                     f"{REDACTED if secret or (isinstance(k, str) and is_secret_name(k)) else safe_preview(v, 40)}"
                     for k, v in value.head(5).items()]
            return ("\n".join(items) + (f"\n… ({len(value)} rows)" if len(value) > 5 else ""))[:limit]
        if t == "ndarray":
            import numpy as np
            # .flat[:8] copies 8 items; reshape() of a non-contiguous view would copy everything
            flat = value.flat[:8] if value.size else value
            return np.array2string(flat, threshold=8, precision=4, max_line_width=120)[:limit] + (
                " …" if value.size > 8 else "")
        if t in ("Timestamp", "Timedelta", "Period", "datetime64", "timedelta64"):
            return str(value)[:limit]
        return repr(value)[:limit] if getattr(value, "size", 0) in (0, 1) else f"<{_qualname(value)}>"
    except Exception:  # a formatter failing must not cost the rest of the state
        return f"<{_qualname(value)}>"


def _table_preview(df, limit: int) -> str:
    """The first rows of a DataFrame, each cell through safe_preview (object columns may hold
    user objects whose repr is slow, which pandas' own to_string would call)."""
    cols = list(df.columns[:8])
    head = df.head(3)
    # a column named api_key or password shows its name, never its values
    hidden = [isinstance(c, str) and is_secret_name(c) for c in cols]
    rows = [[redact_text(c)[0][:24] if isinstance(c, str) else safe_preview(c, 24) for c in cols]]
    for row in head.itertuples(index=False, name=None):
        rows.append([REDACTED if hidden[k] else safe_preview(v, 24) for k, v in enumerate(row[: len(cols)])])
    widths = [max(len(r[k]) for r in rows) for k in range(len(cols))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    if len(df.columns) > len(cols):
        lines[0] += f"  … (+{len(df.columns) - len(cols)} columns)"
    return "\n".join(lines)[: limit * 3]


def describe_variable(name: str, value) -> dict:
    info: dict = {"name": name, "type": _qualname(value)}
    shape = getattr(value, "shape", None) if type(value).__module__.split(".")[0] in (
        "pandas", "numpy", "torch", "polars", "xarray", "scipy") else None
    if isinstance(shape, tuple) or (shape is not None and type(shape).__name__ in ("Size", "TensorShape")):
        info["shape"] = list(shape)
    elif isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        info["len"] = len(value)
    dtype = getattr(value, "dtype", None) if "shape" in info else None
    if dtype is not None:
        info["dtype"] = str(dtype)
    if type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas"):
        cols = list(value.columns[:40])
        info["columns"] = {redact_text(str(c))[0][:80]: str(value.dtypes.iloc[k]) for k, c in enumerate(cols)}
        if len(value.columns) > 40:
            info["columns_omitted"] = len(value.columns) - 40
        info.pop("dtype", None)
    if isinstance(value, (types.FunctionType, type)):
        info["type"] = "function" if isinstance(value, types.FunctionType) else "class"
        info["preview"] = f"{value.__name__}{_signature(value)}"
    elif is_secret_name(name):
        info.pop("len", None)  # even the length of a secret says something about it
        info["preview"] = REDACTED
        info["redacted"] = True
    else:
        # values can hold secrets whatever their names (a connection URL, a pasted key)
        info["preview"], kinds = redact_text(safe_preview(value))
        if kinds:
            info["redacted"] = True
    return info


def variable_summary(name: str, value) -> str:
    """The one summary of a variable that every door attaches (``@name`` in the magics and the panel).

    Built from :func:`describe_variable` (secret names hidden, values redacted before they are
    cut), rendered as the model reads kernel state, redacted again and bounded.
    """
    try:
        info = describe_variable(name, value)
    except Exception as exc:  # a broken __len__ or property must not stop the request
        info = {"name": name, "type": _qualname(value), "error": type(exc).__name__}
    text = render_kernel_state({"variables": [info]}).split("\n", 1)[-1]
    return redact_text(text)[0][:MAX_SUMMARY_CHARS]


def variable_summaries(names, ns: dict) -> str | None:
    """Summaries of the variables ``names`` of namespace ``ns`` (unknown names are left out), or None."""
    parts = [variable_summary(n, ns[n]) for n in names if n in ns]
    return "Variables the user pointed at:\n" + "\n".join(parts) if parts else None


class _JSONValue:
    """A value whose display is JSON both as application/json and as text/plain (what a user expression returns)."""

    def __init__(self, data: dict):
        self.data = data

    def _repr_json_(self) -> dict:
        return self.data

    def __repr__(self) -> str:
        import json

        return json.dumps(self.data)


def summary_json(name: str, ns: dict) -> _JSONValue:
    """``variable_summary`` for a front end that asks the kernel through a user expression (the panel's @name)."""
    if name not in ns:
        return _JSONValue({"name": name, "error": "not defined"})
    return _JSONValue({"name": name, "summary": variable_summary(name, ns[name])})


def _signature(fn) -> str:
    """The parameter list, with defaults through safe_preview: str(inspect.signature) would
    call the repr of every default value, which may be any user object."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "(…)"
    parts = []
    for p in params:
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name
        if p.default is not p.empty:
            text += "=" + safe_preview(p.default, 40)
        parts.append(text)
    return f"({', '.join(parts)})"[:200]


def collect_kernel_state(user_ns: dict, *, last_exception=None, max_vars: int = 50,
                         time_limit: float = 0.2) -> dict:
    """Describe the user's variables and last error as JSON-able data, within ``time_limit`` seconds."""
    start = time.perf_counter()
    state: dict = {"variables": [], "omitted": 0, "truncated": False, "last_exception": None}
    names = sorted(n for n in list(user_ns) if isinstance(n, str))
    for name in names:
        value = user_ns.get(name)
        try:
            if _skip(name, value):
                continue
        except Exception:
            continue
        if len(state["variables"]) >= max_vars or time.perf_counter() - start > time_limit:
            state["omitted"] += 1
            state["truncated"] = True
            continue
        try:
            state["variables"].append(describe_variable(name, value))
        except Exception as exc:  # a broken __len__ or property must not break the context
            state["variables"].append({"name": name, "type": _qualname(value), "error": type(exc).__name__})
    if last_exception is not None:
        state["last_exception"] = describe_exception(*last_exception)
    state["elapsed_ms"] = round(1000 * (time.perf_counter() - start), 1)
    return state


def describe_exception(etype, value, tb) -> dict:
    lines = traceback.format_exception(etype, value, tb)
    # redacted whole, before it is trimmed (a trimmed key would no longer be recognised)
    text = redact_text("".join(lines))[0]
    if len(text) > 6000:
        text = text[:2000] + "\n… [traceback trimmed]\n" + text[-3500:]
    message = redact_text(str(value)[:500 + _REDACT_MARGIN])[0][:500]
    info = {"type": getattr(etype, "__name__", str(etype)), "message": message, "traceback": text}
    # the cell that raised: IPython names cell files "<ipython-input-…>" or ".../ipykernel_…/….py"
    frames = traceback.extract_tb(tb) if tb is not None else []
    for fr in frames:
        if "ipython-input" in fr.filename or "ipykernel_" in fr.filename:
            source = "".join(linecache.getlines(fr.filename))
            if source:
                info["cell_source"] = redact_text(source)[0][:4000]
                info["cell_line"] = fr.lineno
            break
    return info


def render_kernel_state(state: dict) -> str:
    out = ["Live kernel variables (name: type [shape/len] = preview):"]
    for v in state.get("variables", []):
        desc = f"{v['name']}: {v.get('type', '?')}"
        if "shape" in v:
            desc += f" shape={tuple(v['shape'])}"
        if "len" in v:
            desc += f" len={v['len']}"
        if "dtype" in v:
            desc += f" dtype={v['dtype']}"
        if "columns" in v:
            cols = ", ".join(f"{c} ({t})" for c, t in v["columns"].items())
            desc += f"\n  columns: {cols}" + (f" … (+{v['columns_omitted']})" if v.get("columns_omitted") else "")
        if v.get("preview"):
            prev = v["preview"].replace("\n", "\n    ")
            desc += f"\n  = {prev}" if "\n" in prev else f" = {prev}"
        out.append(desc)
    if state.get("truncated"):
        out.append(f"… {state.get('omitted', 0)} more variables not shown")
    exc = state.get("last_exception")
    if exc:
        out.append(f"\nLast exception: {exc['type']}: {exc['message']}")
        if exc.get("cell_source"):
            out.append(f"In the cell (line {exc.get('cell_line')}):\n{exc['cell_source']}")
        out.append(exc["traceback"])
    return "\n".join(out)
