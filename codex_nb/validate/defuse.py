"""Def-use facts of one notebook cell: which top-level names it reads and binds.

Targeted validation re-runs only the cells an edit can affect, so the facts here
must err on the side of "depends": a missed dependency turns a broken edit into
a passing validation. Where a cell's effect on the namespace cannot be known
(``exec``, ``%run``, star imports, ``globals()``), the cell is marked *opaque*
and the caller widens to a full run.

IPython syntax (``%magic``, ``%%cell magic``, ``!cmd``, ``x = !cmd``, ``obj?``)
is first rewritten by IPython's own input transformers into ordinary calls
(``get_ipython().run_line_magic(...)``), so the analysis sees plain Python.
"""
from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass, field

from .files import FILE_PREFIX, file_links  # noqa: F401 - FILE_PREFIX is part of this module's vocabulary
from .libstate import library_setup, setting_functions

# Magics that run their argument (or body) as Python in the user namespace.
_CODE_LINE_MAGICS = {"time", "timeit", "prun"}
_CODE_CELL_MAGICS = {"time", "timeit", "prun", "capture"}
# Magics that change kernel state every later cell may rely on (paths, plotting,
# extensions, packages, environment). They always run before the selected cells.
_SETUP_MAGICS = {
    "matplotlib", "load_ext", "reload_ext", "config", "autoreload", "aimport", "cd",
    "pip", "conda", "mamba", "micromamba", "precision", "xmode", "colors", "alias",
    "autocall", "autoindent", "automagic", "pdb", "env", "set_env", "rehashx", "unalias",
}
# Magics with no effect on the Python namespace beyond interpolated names.
_INERT_MAGICS = {
    "pwd", "ls", "ll", "lsmagic", "history", "hist", "magic",
    "pinfo", "pinfo2", "pdef", "pdoc", "psource", "pfile", "psearch", "page", "quickref",
    "html", "markdown", "javascript", "js", "latex", "svg", "bash", "sh", "script",
    "system", "sx", "sc", "perl", "ruby", "python", "python3", "pypy", "doctest_mode",
    "killbgscripts", "notebook", "tb", "debug", "clear", "cat", "less", "more", "mkdir",
    "rmdir", "mv", "cp", "rm", "rep", "dhist", "dirs", "popd", "pushd", "bookmark",
}
# Magics that read (and print) every variable: they depend on whatever any earlier cell binds.
_NAMESPACE_MAGICS = {"who", "whos", "who_ls"}
# Magics whose namespace effect is invisible to a static analysis.
_OPAQUE_MAGICS = {
    "run": "runs another file in the notebook's namespace",
    "load": "loads code from elsewhere into the cell",
    "loadpy": "loads code from elsewhere into the cell",
    "store": "restores variables from IPython's store",
    "reset": "clears the namespace",
    "reset_selective": "clears part of the namespace",
    "xdel": "deletes variables by name",
    "writefile": "writes a file that other cells may read or import",
    "file": "writes a file that other cells may read or import",
    "macro": "defines a macro that replays other input",
    "recall": "replays earlier input",
    "rerun": "replays earlier input",
    "edit": "runs code written in an editor",
    "sql": "reads and writes names through an extension",
}
# Builtins that never change the objects passed to them (anything else might: clean(df)).
_READ_ONLY_BUILTINS = {
    "print", "len", "repr", "str", "int", "float", "bool", "complex", "type", "isinstance", "issubclass",
    "id", "hash", "abs", "round", "min", "max", "sum", "any", "all", "sorted", "reversed", "enumerate",
    "zip", "range", "list", "tuple", "set", "frozenset", "dict", "format", "hasattr", "getattr", "callable",
    "iter", "divmod", "pow", "chr", "ord", "bin", "hex", "oct", "ascii", "display",
}
# Calls whose reads or writes of the namespace cannot be seen statically.
_OPAQUE_CALLS = {
    "exec": "calls exec()",
    "eval": "calls eval()",
    "globals": "uses globals()",
    "locals": "uses locals()",
    "execfile": "calls execfile()",
}
_OPAQUE_SHELL_METHODS = {
    "run_cell": "calls get_ipython().run_cell()",
    "ex": "calls get_ipython().ex()",
    "ev": "calls get_ipython().ev()",
    "push": "pushes variables with get_ipython().push()",
    "del_var": "deletes variables with get_ipython().del_var()",
    "user_ns": "touches get_ipython().user_ns",
    "user_global_ns": "touches get_ipython().user_global_ns",
    "run_line_magic": "calls a magic by computed name",
    "run_cell_magic": "calls a magic by computed name",
}
_DOLLAR_NAME = re.compile(r"(?<!\$)\$([A-Za-z_]\w*)")
_BRACED = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")


@dataclass
class CellFacts:
    """What one cell reads and binds at the notebook's top level.

    ``defines`` holds every name the cell may bind or mutate; ``kills`` the
    subset it certainly rebinds whenever it completes (so earlier definitions
    cannot reach later cells); ``uses`` the names read before the cell binds
    them. ``deferred`` holds names read only inside function bodies and lambdas:
    they are read when the function is called, possibly cells later, so the
    selector resolves them at each caller. ``called_on`` holds roots of method calls (``df.dropna(inplace=True)``)
    and of arguments passed to functions (``clean(df)`` may change ``df`` in place) that may mutate an
    object; the selector decides which of them count.
    """

    defines: set[str] = field(default_factory=set)
    kills: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)
    deferred: set[str] = field(default_factory=set)
    imports: set[str] = field(default_factory=set)
    called_on: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)  # roots changed in place (stores, method calls, arguments)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # name -> roots of the object it was bound to
    files_any_write: bool = False  # writes a file whose name is computed
    files_any_read: bool = False  # reads a file whose name is computed
    reads_all: str | None = None  # why the cell reads the whole namespace (%whos)
    setting_functions: set[str] = field(default_factory=set)  # functions defined here that set library state
    setup: str | None = None  # why the cell prepares kernel state for every later cell
    opaque: str | None = None  # why the analysis cannot be sure about this cell


def analyse_source(source: str) -> CellFacts:
    """Def-use facts of a code cell's source (IPython syntax allowed)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        python = TransformerManager().transform_cell(source)
    except Exception as exc:  # the transformers raise assorted types on odd input
        return CellFacts(opaque=f"IPython cannot transform the cell ({type(exc).__name__})")
    return _analyse_python(python)


def _analyse_python(python: str) -> CellFacts:
    try:
        tree = ast.parse(python)
        table = symtable.symtable(python, "<cell>", "exec")
    except SyntaxError as exc:
        return CellFacts(opaque=f"the cell does not parse (line {exc.lineno}: {exc.msg})")
    facts = CellFacts()
    nested_globals, nested_defs = _nested_scope_globals(table)
    for sym in table.get_symbols():
        if sym.is_assigned() or sym.is_imported():
            facts.defines.add(sym.get_name())
        if sym.is_imported():
            facts.imports.add(sym.get_name())
    facts.defines |= nested_defs
    visitor = _StatementVisitor(nested_globals)
    bound: set[str] = set()
    for stmt in tree.body:
        visitor.reset()
        visitor.visit(stmt)
        certain = _is_unconditional(stmt)
        facts.uses |= (visitor.loads | visitor.mutated) - bound
        facts.deferred |= visitor.deferred
        facts.defines |= visitor.mutated
        facts.called_on |= visitor.called_on
        facts.mutates |= visitor.mutated | visitor.called_on
        facts.reads_all = facts.reads_all or visitor.reads_all
        if visitor.depth == 0:
            for target, roots in _aliases_of(stmt).items():
                facts.aliases.setdefault(target, set()).update(roots)
        for sub in visitor.subcells:
            # Code run by %time / %%capture etc. behaves like inline statements.
            facts.uses |= sub.uses - bound
            facts.deferred |= sub.deferred
            facts.defines |= sub.defines
            facts.imports |= sub.imports
            facts.called_on |= sub.called_on
            facts.mutates |= sub.mutates
            facts.setup = facts.setup or sub.setup
            facts.opaque = facts.opaque or sub.opaque
            if certain:
                bound |= sub.kills
        facts.setup = facts.setup or visitor.setup
        facts.opaque = facts.opaque or visitor.opaque
        if certain:
            bound |= _bound_by(stmt)
    facts.kills = bound & facts.defines
    links = file_links(tree)
    facts.defines |= links.written
    facts.uses |= links.mentioned - links.written
    facts.files_any_write, facts.files_any_read = links.any_write, links.any_read
    facts.setup = facts.setup or library_setup(tree)
    facts.setting_functions = setting_functions(tree)
    return facts


def _aliases_of(stmt: ast.stmt) -> dict[str, set[str]]:
    """``tmp = states`` (or ``part = frame.loc``, ``a, b = x, y``): names bound to an existing object."""
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
        return {}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    found: dict[str, set[str]] = {}
    for target in targets:
        pairs = [(target, stmt.value)]
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(stmt.value, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(stmt.value.elts):
            pairs = list(zip(target.elts, stmt.value.elts))
        for tgt, value in pairs:
            roots = _object_roots(value)
            for name in _target_names(tgt):
                if roots - {name}:
                    found.setdefault(name, set()).update(roots - {name})
    return found


def _object_roots(value: ast.AST) -> set[str]:
    """Names whose object ``value`` may be (or be a view of): a name, its attributes or items."""
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred)):
        root = _root_name(value.value if isinstance(value, ast.Starred) else value)
        return {root} if root else set()
    if isinstance(value, ast.IfExp):
        return _object_roots(value.body) | _object_roots(value.orelse)
    if isinstance(value, ast.BoolOp):
        return set().union(*(_object_roots(v) for v in value.values))
    if isinstance(value, (ast.Tuple, ast.List)):
        return set().union(*(_object_roots(v) for v in value.elts)) if value.elts else set()
    if isinstance(value, ast.NamedExpr):
        return _object_roots(value.value)
    return set()


def _nested_scope_globals(table: symtable.SymbolTable) -> tuple[set[str], set[str]]:
    """Names that functions, classes and comprehensions read from (or assign to) module scope."""
    reads: set[str] = set()
    writes: set[str] = set()
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        for sym in child.get_symbols():
            if sym.is_global() and sym.is_referenced():
                reads.add(sym.get_name())
            if sym.is_declared_global() and sym.is_assigned():
                writes.add(sym.get_name())
        stack.extend(child.get_children())
    return reads, writes


def _is_unconditional(stmt: ast.stmt) -> bool:
    """Statements whose bindings certainly happen when the cell completes."""
    return isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom,
                             ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Expr, ast.Delete))


def _bound_by(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
    if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
        return set()
    targets = {
        ast.Assign: lambda s: s.targets,
        ast.AnnAssign: lambda s: [s.target],
        ast.AugAssign: lambda s: [s.target],
        ast.Delete: lambda s: s.targets,
    }.get(type(stmt))
    names: set[str] = set()
    for target in targets(stmt) if targets else ():
        names |= _target_names(target)
    return names


def _target_names(target: ast.AST) -> set[str]:
    """Names a target rebinds; ``df["a"] = …`` and ``obj.x = …`` rebind nothing."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _shell_call(node: ast.Call) -> str | None:
    """The method name of ``get_ipython().<method>(...)``, else None."""
    func = node.func
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"):
        return func.attr
    return None


def _constant_args(node: ast.Call) -> list[str] | None:
    values = []
    for arg in node.args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            return None
        values.append(arg.value)
    return values


class _StatementVisitor(ast.NodeVisitor):
    """Collects, for one top-level statement, the names it reads and the IPython calls it makes."""

    def __init__(self, nested_globals: set[str]):
        self.nested_globals = nested_globals
        self.reset()

    def reset(self) -> None:
        self.loads: set[str] = set()
        self.deferred: set[str] = set()
        self.mutated: set[str] = set()
        self.called_on: set[str] = set()
        self.subcells: list[CellFacts] = []
        self.setup: str | None = None
        self.opaque: str | None = None
        self.reads_all: str | None = None
        self.depth = 0  # inside any nested scope (function, lambda, class, comprehension)
        self.function_depth = 0  # inside a function or lambda body: runs when called, not now

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and (self.depth == 0 or node.id in self.nested_globals):
            (self.deferred if self.function_depth else self.loads).add(node.id)
            if node.id in _OPAQUE_CALLS:
                self.opaque = self.opaque or _OPAQUE_CALLS[node.id]

    def _in_scope(self, body: list[ast.AST], function: bool = False) -> None:
        self.depth += 1
        self.function_depth += function
        for node in body:
            self.visit(node)
        self.function_depth -= function
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # Decorators, defaults and annotations run at definition time, in the enclosing scope.
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self._in_scope(node.body, function=True)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in [*node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self._in_scope([node.body], function=True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(expr)
        self._in_scope(node.body)

    def _comprehension(self, node: ast.AST) -> None:
        # The first iterable is evaluated in the enclosing scope; the rest in the comprehension's own.
        first, *rest = node.generators
        self.visit(first.iter)
        parts = [first.target, *first.ifs, *rest]
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._in_scope(parts)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if any(alias.name == "*" for alias in node.names):
            self.opaque = self.opaque or f"star import from {node.module or '.'}"

    def _note_mutation(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            root = _root_name(target)
            if root is not None and (self.depth == 0 or root in self.nested_globals):
                self.mutated.add(root)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._note_mutation(elt)
        elif isinstance(target, ast.Starred):
            self._note_mutation(target.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._note_mutation(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._note_mutation(node.target)
        if isinstance(node.target, ast.Name) and self.depth == 0:
            self.loads.add(node.target.id)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._note_mutation(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._note_mutation(target)
            if self.depth == 0:
                # `del x` needs x to exist, so it reads it.
                self.loads |= _target_names(target)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._note_mutation(node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        method = _shell_call(node)
        if method is not None:
            self._shell(node, method)
            return
        if isinstance(node.func, ast.Name) and node.func.id == "vars" and not node.args:
            self.opaque = self.opaque or "calls vars() without arguments"
        if isinstance(node.func, ast.Attribute):
            self._note_call_on(node.func.value)
        if not (isinstance(node.func, ast.Name) and node.func.id in _READ_ONLY_BUILTINS):
            # A function may change an object it is given (clean(df) dropping rows in place).
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self._note_call_on(arg.value if isinstance(arg, ast.Starred) else arg)
        self.generic_visit(node)

    def _note_call_on(self, expr: ast.AST) -> None:
        root = _root_name(expr)
        if root is not None and (self.depth == 0 or root in self.nested_globals):
            self.called_on.add(root)

    def _shell(self, node: ast.Call, method: str) -> None:
        args = _constant_args(node)
        if method in ("system", "getoutput"):
            if args:
                self._interpolated(args[0])
            return
        if method in ("run_line_magic", "run_cell_magic") and args and len(args) >= 2:
            self._magic(method == "run_cell_magic", args)
            return
        if method in _OPAQUE_SHELL_METHODS:
            self.opaque = self.opaque or _OPAQUE_SHELL_METHODS[method]
            return
        self.generic_visit(node)

    def _interpolated(self, text: str) -> None:
        """Names IPython substitutes into ``!cmd {x} $y`` and line-magic arguments."""
        self.loads |= set(_DOLLAR_NAME.findall(text))
        for expr in _BRACED.findall(text):
            try:
                tree = ast.parse(expr.strip(), mode="eval")
            except SyntaxError:
                continue
            self.loads |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}

    def _magic(self, is_cell: bool, args: list[str]) -> None:
        name, line = args[0], args[1]
        body = args[2] if is_cell and len(args) > 2 else None
        if name in _OPAQUE_MAGICS:
            self.opaque = self.opaque or f"%{name} {_OPAQUE_MAGICS[name]}"
        elif name in _SETUP_MAGICS:
            self.setup = self.setup or f"sets up the kernel with %{name}"
            self._interpolated(line)
        elif not is_cell and name in _CODE_LINE_MAGICS:
            self.subcells.append(analyse_source(_strip_magic_options(line)))
        elif is_cell and name in _CODE_CELL_MAGICS:
            if body is not None:
                self.subcells.append(analyse_source(body))
            if name == "capture":
                self._captured_names(line)
        elif name in _NAMESPACE_MAGICS:
            self.reads_all = self.reads_all or f"%{name} shows every variable"
        elif name in _INERT_MAGICS:
            self._interpolated(line)
            self._script_outputs(line)
        else:
            self.opaque = self.opaque or f"%{name} is a magic whose effect on variables is unknown"

    def _captured_names(self, line: str) -> None:
        words = [w for w in line.split() if not w.startswith("-")]
        if words:
            sub = CellFacts(defines={words[0]}, kills={words[0]})
            self.subcells.append(sub)

    def _script_outputs(self, line: str) -> None:
        """``%%bash --out x`` binds x in the namespace."""
        words = line.split()
        for flag, value in zip(words, words[1:]):
            if flag in ("--out", "--err", "--proc"):
                self.subcells.append(CellFacts(defines={value}, kills={value}))


def _strip_magic_options(line: str) -> str:
    """``%timeit -n 3 -r 1 f(x)`` → ``f(x)``: drop the leading options (and their values)."""
    words = line.split(" ")
    while words and words[0].startswith("-"):
        flag = words.pop(0)
        if flag in ("-n", "-r", "-p", "-s", "-T", "-D", "-l") and words:
            words.pop(0)
    return " ".join(words)
