"""Append-only, hash-chained audit log: one JSON object per line in `.codex_nb/audit.jsonl`.

The log lives at the repository root of the notebook it is about, so it travels with the
project (it is meant to be committed). Each line carries ``seq`` (its line number),
``prev`` (sha256 of the previous line's bytes) and ``hash`` (of its own content), so a
changed, removed or reordered line breaks the chain; a small head file beside the log
(`audit.head`: the last line's number and sha256) makes removing lines at the end
visible too. Writers hold an exclusive ``flock`` on the log while they read the last line
and append, so concurrent writers (kernel, server, CLI) keep one chain. ``time``, ``user``
and the chain fields are stamped here, never taken from a caller's fields. Instructions
are stored as a hash, and the whole line goes through redaction: the log never holds a key.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from ..notebook_io import find_repo_root
from .schema import EVENTS, SOURCES, STAMPED, ZERO_HASH, validate_entry

try:
    import fcntl
except ImportError:  # Windows: appends stay whole lines, but concurrent writers may fork the chain
    fcntl = None

AUDIT_DIR = ".codex_nb"
AUDIT_FILE = "audit.jsonl"

MAX_STRING = 4000  # characters kept of one string field
MAX_ITEMS = 500  # items kept of one list field
MAX_DEPTH = 8
_TAIL_BLOCK = 64 * 1024
_HEAD_SIZE = 128  # bytes of the head file: {"seq": N, "sha256": "…"} padded with spaces


def audit_path(anchor: str | os.PathLike) -> Path:
    """Where the audit log for a notebook (or directory) lives."""
    override = os.environ.get("CODEX_NB_AUDIT_LOG")
    if override:
        return Path(override)
    return find_repo_root(anchor) / AUDIT_DIR / AUDIT_FILE


def head_path(log: str | os.PathLike) -> Path:
    """The head (anchor) file beside a log: ``audit.jsonl`` -> ``audit.head``."""
    return Path(log).with_suffix(".head")


def instruction_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def line_sha256(line: bytes) -> str:
    """What the next line's ``prev`` holds: sha256 of a line's bytes, without its newline."""
    return hashlib.sha256(line).hexdigest()


def entry_hash(entry: dict) -> str:
    """An entry's own ``hash``: sha256 of its canonical JSON without the ``hash`` field."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def record(event: str, anchor: str | os.PathLike, *, user: str | None = None, source: str | None = None,
           **fields) -> dict:
    """Append one event of the vocabulary (see ``schema.EVENTS``) and return the entry as written.

    ``user`` is passed only by trusted server code (the identity provider's user name);
    otherwise the OS user is recorded. ``source`` defaults to what this process is (kernel,
    server, cli, api). Fields named like the stamped ones (time, user, seq, prev, hash)
    are dropped. An event outside the vocabulary, or one missing its required fields, is a
    programming error: ValueError.
    """
    source, fields = _normalised(event, source, fields)
    body = {
        "event": event,
        "user": _user(user),
        "source": source,
        "notebook": _str_or_none(fields.pop("notebook", None)),
        "proposal_id": _str_or_none(fields.pop("proposal_id", None)),
        **{k: _bounded(v) for k, v in fields.items()},
    }
    body = _redacted(body)
    path = audit_path(anchor)
    _ensure_dir(path.parent)
    with _locked_log(path) as fd:
        prefix, seq, prev = _chain_position(fd)
        entry = {"seq": seq, "time": _now(), **body, "prev": prev}
        entry["hash"] = entry_hash(entry)
        problems = validate_entry(entry)
        if problems:
            raise ValueError(f"audit event {event!r} is incomplete: " + "; ".join(problems))
        line = json.dumps(entry, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")
        _write_all(fd, prefix + line + b"\n")
        _write_head(path, seq, line_sha256(line))
    return entry


def read(anchor: str | os.PathLike, notebook: str | None = None, limit: int | None = None) -> list[dict]:
    """Entries of the log, oldest first; optionally only those about one notebook."""
    return read_log(audit_path(anchor), notebook=notebook, limit=limit)


def read_log(path: str | os.PathLike, notebook: str | None = None, limit: int | None = None) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a torn line from a crash must not hide the rest
            if isinstance(entry, dict) and (notebook is None or entry.get("notebook") == notebook):
                entries.append(entry)
    return entries[-limit:] if limit else entries


# -- writing ------------------------------------------------------------------


def _normalised(event: str, source, fields: dict):
    """Check the event name and source; drop the fields only this module stamps."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; the vocabulary is {', '.join(EVENTS)}")
    source = source or _process_source()
    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}; use one of {', '.join(SOURCES)}")
    return source, {k: v for k, v in fields.items() if k not in STAMPED and k not in ("event", "source")}


def _chain_position(fd: int) -> tuple[bytes, int, str]:
    """(bytes to write before the new line, its seq, its prev) from the end of the log.

    A torn last line (a writer that crashed mid-line) is sealed with a newline and
    counted as a line, so the chain and the numbering go on past it.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return b"", 1, ZERO_HASH
    last, fragment = _tail(fd, size)
    if fragment:
        prefix, previous_line = b"\n", fragment
        seq = _line_count(fd, size, last) + 2
    else:
        prefix, previous_line = b"", last
        seq = _line_count(fd, size, last) + 1
    return prefix, seq, line_sha256(previous_line)


def _line_count(fd: int, size: int, last: bytes | None) -> int:
    """Number of complete lines: the last line's seq when it has one, else counted."""
    if last is None:
        return 0
    try:
        seq = json.loads(last).get("seq")
    except (ValueError, AttributeError):
        seq = None
    if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
        return seq
    return _count_newlines(fd, size)  # a log from before the chain, or a damaged last line


def _tail(fd: int, size: int) -> tuple[bytes | None, bytes]:
    """(the last complete line without its newline or None, the bytes after the last newline)."""
    buf, start = b"", size
    while True:
        end, start = start, max(0, start - _TAIL_BLOCK)
        buf = _pread(fd, end - start, start) + buf
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            if start == 0:
                return None, buf
            continue
        before = buf.rfind(b"\n", 0, last_nl)
        if before >= 0 or start == 0:
            return buf[before + 1:last_nl], buf[last_nl + 1:]


def _pread(fd: int, length: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows; O_APPEND writes go to the end wherever this leaves it
    return os.read(fd, length)


def _count_newlines(fd: int, size: int) -> int:
    count, offset = 0, 0
    while offset < size:
        block = _pread(fd, min(1 << 20, size - offset), offset)
        if not block:
            break
        count += block.count(b"\n")
        offset += len(block)
    return count


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_head(path: Path, seq: int, sha: str) -> None:
    """Overwrite the head file in place with a fixed-size record (under the log's lock).

    Always the same length, so one small write replaces it whole; a rename per event
    costs milliseconds on some file systems.
    """
    text = json.dumps({"seq": seq, "sha256": sha})
    data = (text.ljust(_HEAD_SIZE - 1) + "\n").encode("ascii")
    fd = os.open(head_path(path), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size > len(data):
            os.ftruncate(fd, len(data))
        _write_all_at(fd, data)
    finally:
        os.close(fd)


def _write_all_at(fd: int, data: bytes) -> None:
    if hasattr(os, "pwrite"):
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], written)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        _write_all(fd, data)


@contextmanager
def _locked_log(path: Path, shared: bool = False):
    """The log opened for appending (or reading) under an exclusive (or shared) flock."""
    flags = os.O_RDONLY if shared else os.O_RDWR | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _ensure_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if directory.name == AUDIT_DIR:  # keep the log visible to git, the local state out of it
        from ..context.index import ensure_local_state_ignored

        ensure_local_state_ignored(directory)


# -- fields ---------------------------------------------------------------------


def _now() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _user(user: str | None) -> str:
    if user is not None and str(user).strip():
        return _bounded(str(user).strip())
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _process_source() -> str:
    """What kind of process writes when the caller does not say: a kernel, a server, the CLI or a library."""
    shell = sys.modules.get("IPython")
    if shell is not None and "ipykernel" in sys.modules:
        ip = shell.get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            return "kernel"
    app = sys.modules.get("jupyter_server.serverapp")
    if app is not None and app.ServerApp.initialized():
        return "server"
    if Path(sys.argv[0] if sys.argv else "").name in ("codex-nb", "__main__.py"):
        return "cli"
    return "api"


def _str_or_none(value) -> str | None:
    return None if value is None else _bounded(str(value))


def _bounded(value, depth: int = 0):
    """A JSON-ready copy with long strings and lists trimmed (marked), so one event stays one small line."""
    if isinstance(value, str):
        value = value.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates in a UTF-8 file
        if len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"…[{len(value) - MAX_STRING} more characters]"
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= MAX_DEPTH:
        return _bounded(repr(value), depth)
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): _bounded(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"[{len(items) - MAX_ITEMS} more keys]"
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        out = [_bounded(v, depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out.append(f"…[{len(items) - MAX_ITEMS} more items]")
        return out
    if isinstance(value, os.PathLike):
        return _bounded(os.fspath(value), depth)
    return _bounded(str(value), depth)


def _redacted(body: dict) -> dict:
    """The entry with secrets replaced, redacting its whole JSON text (keys and values together)."""
    try:
        from ..context.redact import redact_text
    except ImportError:
        return body
    text = json.dumps(body, ensure_ascii=False)
    redacted, kinds = redact_text(text)
    if not kinds:
        return body
    try:
        return json.loads(redacted)
    except ValueError:  # a pattern ate JSON syntax: redact value by value instead
        return _redact_values(body, redact_text)


def _redact_values(value, redact_text):
    if isinstance(value, str):
        return redact_text(value)[0]
    if isinstance(value, dict):
        return {k: _redact_values(v, redact_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, redact_text) for v in value]
    return value
