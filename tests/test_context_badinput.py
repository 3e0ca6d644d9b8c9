"""The index skips and reports broken input; it never crashes."""
from __future__ import annotations

import os


from codex_nb.context import build_context
from codex_nb.context import index as index_mod
from codex_nb.context.index import load_index


def problems(index):
    return {s.path: s.reason for s in index.skipped}


def test_symlink_loop_and_escaping_symlinks_are_not_followed(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_text("def parse_ledger():\n    pass\n")
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")  # pkg/loop -> pkg
    outside = tmp_path.parent / f"{tmp_path.name}_outside.py"
    outside.write_text("SECRET_THING = 1\n")
    os.symlink(outside, tmp_path / "pkg" / "escape.py")
    index = load_index(tmp_path, use_memory=False, use_disk=False)
    assert index.paths == ["pkg/core.py"]
    assert "directory symlink" in problems(index)["pkg/loop"]
    assert "outside" in problems(index)["pkg/escape.py"]


def test_non_utf8_invalid_notebook_binary_and_syntax_errors_are_reported(tmp_path):
    (tmp_path / "latin.py").write_bytes("def café_prices():\n    return 'prix'\n".encode("latin-1"))
    (tmp_path / "broken.ipynb").write_text("{this is not json")
    (tmp_path / "cells.ipynb").write_text('{"cells": "nope"}')
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "syntax.py").write_text("def oops(:\n    pass\nimportant_identifier = 1\n")
    (tmp_path / "good.py").write_text("def fine():\n    return important_identifier\n")
    index = load_index(tmp_path, use_memory=False, use_disk=False)
    got = problems(index)
    assert "not UTF-8" in got["latin.py"]
    assert "invalid notebook" in got["broken.ipynb"] and "invalid notebook" in got["cells.ipynb"]
    assert "binary" in got["blob.py"]
    assert "syntax error" in got["syntax.py"]
    # a file that does not parse is still searchable by its text
    ctx = build_context(query="important_identifier", repo=tmp_path, use_cache=False)
    assert {"syntax.py", "good.py"} <= {f["path"] for f in ctx.files[:2]}
    assert ctx.problems


def test_unreadable_file_is_skipped_and_reported(tmp_path, monkeypatch):
    (tmp_path / "ok.py").write_text("def ok():\n    pass\n")
    (tmp_path / "locked.py").write_text("def locked():\n    pass\n")
    real_open = open

    def guarded_open(path, *a, **kw):
        if str(path).endswith("locked.py"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)

    # tests run as root in CI containers, where chmod 000 does not stop reads
    monkeypatch.setattr(index_mod, "open", guarded_open, raising=False)
    index = load_index(tmp_path, use_memory=False, use_disk=False)
    assert index.paths == ["ok.py"]
    assert "unreadable" in problems(index)["locked.py"]


def test_broken_symlink_fifo_and_huge_file(tmp_path):
    os.symlink(tmp_path / "missing.py", tmp_path / "dangling.py")
    os.mkfifo(tmp_path / "pipe.py")  # reading it would block forever
    (tmp_path / "huge.py").write_text("x = 1\n" * 300_000)
    (tmp_path / "small.py").write_text("y = 2\n")
    index = load_index(tmp_path, use_memory=False, use_disk=False)
    got = problems(index)
    assert index.paths == ["small.py"]
    assert "cannot stat" in got["dangling.py"] or "outside" in got["dangling.py"]
    assert "regular" in got["pipe.py"]
    assert "too large" in got["huge.py"]


def test_file_limit_bounds_a_giant_repository(tmp_path):
    for d in range(5):
        sub = tmp_path / f"d{d}"
        sub.mkdir()
        for k in range(30):
            (sub / f"m{k}.py").write_text(f"v{k} = {k}\n")
    index = load_index(tmp_path, use_memory=False, use_disk=False, max_files=50)
    assert len(index.paths) == 50 and index.stats.truncated


def test_problems_are_current_even_when_no_indexed_file_changed(tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    first = load_index(tmp_path, use_memory=True, use_disk=False)
    assert first.skipped == []
    (tmp_path / ".env.py").write_text("TOKEN = 'x'\n")
    again = load_index(tmp_path, use_memory=True, use_disk=False)
    assert again.paths == ["app.py"] and again.stats.parsed == 0
    assert problems(again) == {".env.py": "credential file never read"}
