"""Files link cells as names do: a cell that writes ``out.csv`` binds the pseudo-name ``file:out``.

A later cell that mentions ``out`` in any string reads it. The facts err towards
"linked", because a missed link turns a broken edit into a passing validation:

* every word of every string literal counts as a possible path, with or without
  an extension (``examples/frame_pickle``), and is keyed by its last path
  component without the extension, lower-cased: ``np.save("arr")`` writes
  ``arr.npy``, ``os.path.join("out", "a.csv")`` names ``a.csv``, and a
  case-insensitive disk treats ``A.CSV`` as ``a.csv``;
* a call writes a file when it is a known writer (``to_csv``, ``savefig``,
  ``np.save``, ``os.remove``, …) or is given a write mode (``open(p, "w")``,
  ``h5py.File(p, "a")``); every literal in its arguments is then written;
* a writer or reader whose path is computed (``df.to_pickle(name)``) links to
  every file any cell names (the selector expands it).

Over-linking costs cells; under-linking costs soundness.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

FILE_PREFIX = "file:"
_WORD = re.compile(r"[\w.~/\\:-]*\w[\w.~/\\:-]*")
_MAX_LITERAL = 500
_WRITERS = {
    "savefig", "save", "savez", "savez_compressed", "savetxt", "tofile", "savemat", "write_text", "write_bytes",
    "imwrite", "imsave", "dump", "write", "writelines", "write_csv", "write_parquet", "write_json", "write_ipc",
    "write_excel", "urlretrieve", "copy2", "copyfile", "copytree", "renames", "unlink", "rmdir", "removedirs",
    "rmtree", "mkdir", "makedirs", "touch", "symlink_to", "hardlink_to", "symlink", "extractall", "writestr",
    "mkstemp", "NamedTemporaryFile",
}
# Also str / list / DataFrame methods: file operations only as functions or on os, shutil and paths.
_AMBIGUOUS_WRITERS = {"copy", "move", "rename", "replace", "remove", "truncate", "link", "chmod", "extract"}
_FILE_MODULES = {"os", "shutil", "pathlib", "path", "Path", "zipfile", "tarfile"}
_NO_ARGUMENT_PATH_METHODS = {"unlink", "rmdir", "touch", "mkdir", "iterdir", "read_text", "read_bytes", "exists"}
_READERS = {
    "open", "load", "loadtxt", "genfromtxt", "fromfile", "loadmat", "memmap", "open_memmap", "imread", "read_text",
    "read_bytes", "listdir", "scandir", "walk", "glob", "iglob", "iterdir", "rglob", "exists", "isfile", "isdir",
    "getsize", "getmtime", "stat", "Path", "PurePath", "File", "ZipFile", "TarFile", "read_file",
}


@dataclass
class FileLinks:
    written: set[str] = field(default_factory=set)
    mentioned: set[str] = field(default_factory=set)
    any_write: bool = False
    any_read: bool = False


def file_key(word: str) -> str:
    """The pseudo-name of a path: its last component, without the extension, lower-cased."""
    last = re.split(r"[/\\]", word.rstrip("/\\"))[-1] or word
    stem = last.rsplit(".", 1)[0] if "." in last.strip(".") else last
    return FILE_PREFIX + (stem or last).lower()


def _words(node: ast.AST) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and len(sub.value) < _MAX_LITERAL:
            found.update(_WORD.findall(sub.value))
    return found


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _mode_writes(call: ast.Call) -> bool:
    modes = [k.value for k in call.keywords if k.arg == "mode"] + list(call.args[1:3])
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and len(m.value) <= 4
               and any(c in m.value for c in "wax+") for m in modes)


def _writes(call: ast.Call) -> bool:
    name = _call_name(call) or ""
    if name.startswith("to_") and name not in ("to_numpy", "to_list", "to_dict", "to_records", "to_frame",
                                                "to_series", "to_period", "to_timestamp", "to_datetime"):
        return True  # pandas / xarray / polars writers: to_csv, to_pickle, to_parquet, …
    if name in _AMBIGUOUS_WRITERS:
        func = call.func
        return isinstance(func, ast.Name) or (
            isinstance(func, ast.Attribute) and (_root(func.value) in _FILE_MODULES or isinstance(func.value, ast.Call)))
    return name in _WRITERS or _mode_writes(call)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _reads(call: ast.Call) -> bool:
    name = _call_name(call) or ""
    return name in _READERS or name.startswith(("read_", "load"))


def _computed_path(call: ast.Call) -> bool:
    """Whether a file call names its file by something other than string literals."""
    args = [*call.args, *(k.value for k in call.keywords if k.arg in (None, "path", "fname", "file", "filename",
                                                                      "path_or_buf", "filepath_or_buffer", "f"))]
    if isinstance(call.func, ast.Attribute) and not isinstance(call.func.value, ast.Name):
        args.append(call.func.value)  # Path(name).write_text(...)
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) and not args:
        return call.func.attr in _NO_ARGUMENT_PATH_METHODS  # p.unlink() on a path bound elsewhere
    return any(not isinstance(a, ast.Constant) for a in args[:1]) if args else False


def file_links(tree: ast.AST) -> FileLinks:
    """The files a cell writes and the ones it mentions, as pseudo-names."""
    links = FileLinks()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _writes(node):
            links.written |= {file_key(w) for w in _words(node)}
            links.any_write = links.any_write or _computed_path(node)
        elif _reads(node) and _computed_path(node):
            links.any_read = True
    links.mentioned = {file_key(w) for w in _words(tree)}
    return links
