"""The import graph of every module of src/dmsweep: the wings build on the core, never on
each other, never on TensorFlow, and no module imports itself back through others.

    core (dmsweep.core.*, config, jobfiles, errors, _cli, _yaml)   <- everything
    _tf                    (the one module that imports tensorflow and tf_keras)
    data <- models <- train <- cli                          (the job's side; TensorFlow here)
    db            (document stores of protein sets: core and data, never TensorFlow; train
                   streams protein sets from them)
    serve         (the job's side too: `dmsweep serve`; only cli imports it)
    run_builder   (may use core, data and db: a build reads a collection's count and checksum)
    aggregate     (may use core only)

Imports are read with `ast` from the source (lazy imports inside functions included), so
the test sees every module, not only those a test happens to import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import dmsweep

PACKAGE = Path(dmsweep.__file__).resolve().parent
HEAVY = ("tensorflow", "keras", "spektral", "tf_keras")
KERAS_DOORS = ("tensorflow", "tf_keras", "keras")
"""Imported by dmsweep._tf alone, which makes sure tf.keras is Keras 2 (tf-keras)."""
CORE = (
    "dmsweep.core",
    "dmsweep.config",
    "dmsweep.jobfiles",
    "dmsweep.errors",
    "dmsweep._cli",
    "dmsweep._yaml",
)
ALLOWED = {
    "core": ("core",),
    "_tf": ("core",),
    "data": ("core", "data"),
    "models": ("core", "_tf", "data", "models"),
    "train": ("core", "_tf", "data", "db", "models", "train"),
    "db": ("core", "data", "db"),
    "cli": ("core", "_tf", "data", "db", "models", "train", "serve", "cli"),
    "serve": ("core", "_tf", "data", "models", "train", "serve"),
    "run_builder": ("core", "data", "db", "run_builder"),
    "aggregate": ("core", "aggregate"),
}
"""Layer -> the layers its modules may import."""
TF_FREE = ("core", "data", "db", "run_builder", "aggregate")
KNOWN_CYCLES = {frozenset({"dmsweep.run_builder.spec", "dmsweep.run_builder.expand"})}
"""Cycles being removed elsewhere (spec <-> expand: branch h-plan, issue 7). Delete an entry
once its cycle is gone; any other cycle fails the test."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, runs) for every import statement of a module, lazy ones
    included; `runs` is False for imports under `if TYPE_CHECKING:` (annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        runs = id(node) not in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, runs
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield (name if name in MODULES else base), node.lineno, runs


def _layer(module: str) -> str:
    if module == "dmsweep" or module.startswith(CORE):
        return "core"
    if module == "dmsweep.cli":
        return "cli"
    return module.split(".")[1]


GRAPH = {m: list(_imports(m, p)) for m, p in MODULES.items()}


def test_the_walk_sees_every_module() -> None:
    assert len(MODULES) > 60
    assert {"dmsweep.core.results", "dmsweep.aggregate.collect", "dmsweep.run_builder.cli"} <= set(
        MODULES
    )
    assert {_layer(m) for m in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_the_allowed_direction(module: str) -> None:
    layer = _layer(module)
    wrong = []
    for name, line, _ in GRAPH[module]:
        if name.split(".")[0] == "dmsweep" and _layer(name) not in ALLOWED[layer]:
            wrong.append(f"line {line}: {name} ({_layer(name)})")
        if layer in TF_FREE and name.split(".")[0] in HEAVY:
            wrong.append(f"line {line}: {name} (TensorFlow)")
        if layer != "_tf" and name.split(".")[0] in KERAS_DOORS:
            wrong.append(f"line {line}: {name} (only dmsweep._tf imports TensorFlow and Keras)")
    assert not wrong, f"{module} ({layer}) imports " + "; ".join(wrong)


def test_no_import_cycles() -> None:
    """Between modules, lazy imports included (a package and its own submodules aside:
    importing a submodule runs its package's __init__ first, which is not a cycle of the
    code; nor is an import for annotations only)."""
    edges = {m: {n for n, _, runs in GRAPH[m] if runs and n in MODULES and n != m} for m in MODULES}
    for module in MODULES:
        edges[module] -= {p for p in MODULES if module.startswith(p + ".")}
    for pair in KNOWN_CYCLES:
        first, second = sorted(pair)
        edges[first].discard(second)
    cycles = []
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if seen.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for module in sorted(MODULES):
        if module not in seen:
            visit(module)
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_lazy_and_typing_imports_are_seen() -> None:
    """Imports inside functions count (they run); those under TYPE_CHECKING do not run."""
    pipeline = {n: runs for n, _, runs in GRAPH["dmsweep.aggregate.pipeline"]}
    assert pipeline["dmsweep.aggregate.report"] is True  # imported inside aggregate()
    sampling = {n: runs for n, _, runs in GRAPH["dmsweep.run_builder._spec_sampling"]}
    assert sampling.get("dmsweep.run_builder.spec", False) is False
