"""The import graph of alphagate's own packages, read from the source with ``ast``.

Every ``import`` and ``from ... import`` counts wherever it is written (module top, inside
a function: lazy imports are imports), and so does ``importlib.import_module("name")``
with a constant name. A computed name with a constant prefix
(``importlib.import_module(f"flows.commands.{name}")``) is an import of every module under
that prefix, so a cycle through a command loader cannot hide. Only the body of an ``if TYPE_CHECKING:`` block is left out: it is
never executed. An edge points from a module to the most specific alphagate module it
names (``from tasks.model import stats`` -> ``tasks.model.stats``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("governance", "tasks", "validation", "flows")


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """``{dotted module name: path}`` of every module of :data:`PACKAGES`."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            name = t.id if isinstance(t, ast.Name) else getattr(t, "attr", None)
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    skip.update(id(n) for n in ast.walk(stmt))
    return skip


def imported_names(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Dotted names a module's source imports (candidates: ``base`` and ``base.alias``)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            for a in node.names:
                yield f"{base}\0{a.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.JoinedStr)
            and node.args[0].values
            and isinstance(node.args[0].values[0], ast.Constant)
        ):
            yield f"{node.args[0].values[0].value}*"


def _resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def edges_of(source: str, module: str, known: set[str], is_package: bool = False) -> set[str]:
    """The alphagate modules ``source`` (the module ``module``) imports."""
    out = set()
    for name in imported_names(source, module, is_package):
        if name.endswith("*"):  # a computed name: every module under its constant prefix
            out.update(m for m in known if m.startswith(name[:-1]) and m != module)
            continue
        if "\0" in name:
            base, alias = name.split("\0")
            target = f"{base}.{alias}" if f"{base}.{alias}" in known else _resolve(base, known)
        else:
            target = _resolve(name, known)
        if target and target != module:
            out.add(target)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over :data:`PACKAGES`."""
    files = module_files(root)
    known = set(files)
    return {
        m: edges_of(p.read_text(encoding="utf-8"), m, known, p.name == "__init__.py")
        for m, p in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)
