"""The package's layering, read from the source with ``ast``: no import cycle between modules, and
no module imports a higher layer (attention < models < data < engine < benchmarks < report <
analysis < cli; io, machine, markdown and the other small top-level modules are leaves below them
all, except the few top-level modules that belong to a layer, named in ``TOP_LEVEL``).

Every import counts, also one inside a function: a lazy import hides a dependency from Python's
import machinery, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import attnzoo

PACKAGE = Path(attnzoo.__file__).parent
LAYERS = ("attention", "models", "data", "engine", "benchmarks", "report", "analysis", "cli")
# Top-level modules outside the layer folders, and the layer they belong to.
TOP_LEVEL = {"deploy": "models", "export": "benchmarks", "__main__": "cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that module ``name`` (at ``path``) imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def rank(name: str) -> int:
    """0 for the leaves, then 1 + the index of the module's layer; -1 for the package root."""
    parts = name.split(".")
    if len(parts) == 1:
        return -1  # attnzoo itself re-exports the public API from every layer
    top = parts[1]
    if len(parts) == 2 and top not in LAYERS:  # a top-level module
        return 1 + LAYERS.index(TOP_LEVEL[top]) if top in TOP_LEVEL else 0
    if top not in LAYERS:
        raise ValueError(f"{name}: folder {top!r} is not one of the layers {LAYERS}")
    return 1 + LAYERS.index(top)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``edges``, one path each (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} imports {b}"
        for a, targets in edges.items()
        for b in targets
        if rank(a) >= 0 and rank(b) > rank(a)
    )


def without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between modules, with a package's ``__init__`` (which re-exports its own modules)
    counted as the modules it imports, so ``pkg -> pkg.mod -> pkg`` is a cycle only where
    ``pkg.mod`` imports something that itself needs ``pkg.mod``."""
    return {a: {b for b in targets if not a.startswith(b + ".")} for a, targets in edges.items()}


def test_every_module_belongs_to_a_layer():
    for name in modules():
        rank(name)  # a ValueError for a folder that is not in the layering


def test_no_import_cycles():
    assert cycles(without_packages(graph())) == []


def test_no_layer_imports_a_higher_one():
    assert upward(graph()) == []


def test_the_checks_can_fail():
    edges = {"attnzoo.a.x": {"attnzoo.a.y"}, "attnzoo.a.y": {"attnzoo.a.x"}}
    assert cycles(edges) == [["attnzoo.a.x", "attnzoo.a.y", "attnzoo.a.x"]]
    assert upward({"attnzoo.attention.se": {"attnzoo.cli.main"}}) == [
        "attnzoo.attention.se imports attnzoo.cli.main"
    ]
    assert upward({"attnzoo.io": {"attnzoo.models.base"}}) == [
        "attnzoo.io imports attnzoo.models.base"
    ]
    with pytest.raises(ValueError, match="not one of the layers"):
        rank("attnzoo.newlayer.thing")


MAX_FUNCTION_LINES = 60  # one screen; ruff's C901 and PLR0915 guard complexity and statements


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``file:line name (N lines)`` for each function or method of ``path`` longer than ``limit``
    lines, its decorators and docstring included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - start + 1
            if lines > limit:
                found.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_a_screen():
    assert [f for path in modules().values() for f in long_functions(path)] == []


def test_long_functions_are_found(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path / "m.py") == [f"m.py:5 long ({MAX_FUNCTION_LINES + 1} lines)"]
