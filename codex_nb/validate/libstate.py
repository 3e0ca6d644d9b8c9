"""Cells that set library-wide state: every later cell may depend on them without naming them.

``plt.style.use("ggplot")``, ``plt.rcParams[...] = …``, ``pd.set_option(...)``,
``np.random.seed(0)``, ``warnings.filterwarnings(...)``, ``set_config(...)``
change how later cells behave or print, yet no later cell reads a name they
bind. A targeted run that skips them fails or drifts where a full run does not,
so the selector treats them as set-up cells that run before anything selected.
"""
from __future__ import annotations

import ast

# Calls that configure a library, whatever object they are reached through.
_SETTERS = {
    "set_config", "set_option", "set_options", "set_printoptions", "seed", "manual_seed", "manual_seed_all",
    "set_seed", "set_random_seed", "filterwarnings", "simplefilter", "resetwarnings", "set_theme", "set_style",
    "set_context", "set_palette", "set_color_codes", "rcdefaults", "rc_file", "rc_file_defaults", "basicConfig",
    "setLevel", "disable", "set_default_dtype", "set_default_device", "set_num_threads", "set_grad_enabled",
    "use_deterministic_algorithms", "seterr", "setlocale", "chdir", "putenv", "setrecursionlimit",
    "register_matplotlib_converters", "set_matplotlib_formats", "enable_eager_execution", "set_visible_devices",
    "set_memory_growth", "xkcd", "ion", "ioff", "setdefaulttimeout", "set_loglevel",
}
# Calls that configure a library only when reached through it (``sns.set()``, ``plt.rc(...)``).
_QUALIFIED = {
    "set": ("sns", "seaborn", "tf"),
    "rc": ("plt", "pyplot", "mpl", "matplotlib"),
    "use": ("style", "mpl", "matplotlib"),
    "reset_option": ("pd", "pandas"),
    "append": ("path",),  # sys.path.append
    "insert": ("path",),
    "update": ("rcParams", "options", "environ", "config"),
    "setdefault": ("environ",),
}
# Objects whose items or attributes are library-wide settings.
_SETTING_OBJECTS = {"rcParams", "options", "environ", "display", "mode", "config", "defaults"}


def _chain(node: ast.AST) -> list[str]:
    """``plt.style.use`` → ["plt", "style", "use"]; subscripts are looked through."""
    parts: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _setting_call(call: ast.Call) -> str | None:
    chain = _chain(call.func)
    if not chain:
        return None
    name, owners = chain[-1], chain[:-1]
    if name in _SETTERS and (owners or isinstance(call.func, ast.Name)):
        return ".".join(chain)
    if name in _QUALIFIED and owners and any(o in _QUALIFIED[name] for o in owners):
        return ".".join(chain)
    return None


def _setting_store(target: ast.AST) -> str | None:
    chain = _chain(target)
    if not isinstance(target, (ast.Attribute, ast.Subscript)) or not chain:
        return None
    if any(part in _SETTING_OBJECTS for part in chain[1:]) or chain[0] in ("rcParams", "environ"):
        return ".".join(chain)
    return None


def library_setup(tree: ast.AST) -> str | None:
    """Why the cell sets library-wide state (first such statement), or None.

    Only code that runs when the cell runs counts; a setter inside a function
    body is a setter of the cells that call it, and the function's callers read
    the function anyway.
    """
    for node in _immediate_nodes(tree):
        found = None
        if isinstance(node, ast.Call):
            found = _setting_call(node)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = next((s for s in map(_setting_store, targets) if s), None)
        if found:
            return f"sets library-wide state ({found})"
    return None


def setting_functions(tree: ast.AST) -> set[str]:
    """Top-level functions whose bodies set library-wide state: the cells that call them are set-up cells."""
    found = set()
    for stmt in getattr(tree, "body", []):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = ast.Module(body=stmt.body, type_ignores=[])
            if library_setup(inner):
                found.add(stmt.name)
    return found


def _immediate_nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.append(child)
