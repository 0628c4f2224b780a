"""The package's one rule: imports run down the stages, never back up, and no two modules import each other
(through any chain). Every import is read from the source, those inside functions included; imports under
``if TYPE_CHECKING:`` are for type checkers only and do not count.

The stages, top to bottom (a stage may import itself and the stages its row names):

    visualizer (the package face), cli, __main__, datasets, torch   anything
    run/        options, scenes, train, render, compare, pipeline   draw, record, engine, outputs, base
    draw/       renderer, panels, explain figure, text, images      record, engine, base
    record/     Recorder, History, adapters, probes, backprop       engine, base
    engine/     layers, losses, optimizers, training loop           base
    outputs/    writers, formats, player, the transaction           base
    base/       version, errors, writing a file whole               nothing
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "visualizer"
FACE = {"visualizer", "visualizer.cli", "visualizer.__main__", "visualizer.datasets", "visualizer.torch"}
MAY_IMPORT = {
    "face": {"face", "run", "draw", "record", "engine", "outputs", "base"},
    "run": {"run", "draw", "record", "engine", "outputs", "base"},
    "draw": {"draw", "record", "engine", "base"},
    "record": {"record", "engine", "base"},
    "engine": {"engine", "base"},
    "outputs": {"outputs", "base"},
    "base": {"base"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> str:
    if module in FACE:
        return "face"
    top = module.split(".")[1]
    if top not in MAY_IMPORT or top == "face":
        raise AssertionError(f"{module} is in no stage: put it in one of {sorted(set(MAY_IMPORT) - {'face'})}/")
    return top


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(module: str, path: Path) -> set[str]:
    """The package's modules ``module`` imports (a name imported from a package that is a module counts as
    that module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        for target in targets:
            if target in MODULES:
                found.add(target)
    found.discard(module)
    return found


@functools.cache
def graph() -> dict[str, set[str]]:
    """Each module of the package → the package's modules it imports; read once, when a test first asks (not
    while every worker collects the tests)."""
    return {m: imported_modules(m, p) for m, p in MODULES.items()}


def test_the_walk_sees_function_level_imports_and_skips_type_checking(tmp_path):
    source = tmp_path / "visualizer" / "draw" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..run import options\n"
                      "def f():\n    from ..record import history\n    from . import renderer\n")
    global PACKAGE
    keep = PACKAGE
    try:
        PACKAGE = tmp_path / "visualizer"
        found = imported_modules("visualizer.draw.x", source)
    finally:
        PACKAGE = keep
    assert "visualizer.run.options" not in found
    assert {"visualizer.record.history", "visualizer.draw.renderer"} <= found


def test_every_module_is_in_a_stage():
    for module in MODULES:
        stage(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_stages(module):
    here = stage(module)
    upward = sorted(t for t in graph()[module] if stage(t) not in MAY_IMPORT[here])
    assert not upward, f"{module} ({here}) imports {', '.join(f'{t} ({stage(t)})' for t in upward)}"


def test_no_import_cycles():
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph()[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph()):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(", ".join(c) for c in cycles)
