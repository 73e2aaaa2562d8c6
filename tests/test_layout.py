"""The shape of the code base: imports point one way (no cycle among the project's modules, nor among its
folders, lazy imports inside functions included), every sub-command lives in rnnbench/commands/, and
every module and function stays small enough to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("impls", "rnnbench")
MAX_LINES = 450
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file. `from pkg import mod` counts as mod; a
    package's own lazy imports of its submodules (its entry points) are not dependencies of the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known]
            found.update(subs or [node.module])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    is_package = path.name == "__init__.py"
    return {m for m in found if m in known and m != name and not (is_package and m.startswith(name + "."))}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return [*path[path.index(w) :], w]
            if w not in state and (found := visit(w)):
                return found
        state[v] = 2
        path.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_small(name):
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"


def folder(module: str) -> str:
    """The folder a module sits in: its package ("rnnbench.bench" for rnnbench.bench.step, "rnnbench" for
    rnnbench.machine); a package's __init__ sits in its own folder."""
    path = modules()[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Folder -> the other folders its modules import."""
    out: dict[str, set[str]] = {folder(m): set() for m in graph}
    for module, imported in graph.items():
        out[folder(module)] |= {folder(m) for m in imported} - {folder(module)}
    return out


def test_no_folder_imports_a_folder_that_imports_it():
    known = modules()
    folders = folder_graph({name: imports(name, path, known) for name, path in known.items()})
    assert cycle(folders) is None, "folders import each other: " + " -> ".join(cycle(folders) or [])


def test_the_folder_graph_sees_a_cycle_between_files_of_two_folders():
    graph = {"rnnbench.bench.step": {"rnnbench.runs.records"}, "rnnbench.runs.records": {"rnnbench.bench.points"}}
    graph["rnnbench.bench.points"] = set()
    assert cycle(folder_graph(graph)) == ["rnnbench.bench", "rnnbench.runs", "rnnbench.bench"]


def test_every_sub_command_lives_in_commands():
    from rnnbench.cli import COMMANDS

    assert {name: module for name, (module, _) in COMMANDS.items()} == {
        name: f"rnnbench.commands.{name}" for name in COMMANDS
    }


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """name (lines) of every function or method in the file longer than limit lines."""
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit
    ]


@pytest.mark.parametrize("name", sorted(m for m in modules() if m.split(".")[0] == "rnnbench"))
def test_functions_are_short(name):
    assert long_functions(modules()[name]) == [], f"{name}: split these by job"


def test_every_top_level_module_serves_more_than_one_folder():
    """A helper at rnnbench/'s top level that only one folder imports belongs in that folder."""
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    top = [m for m in known if folder(m) == "rnnbench" and m not in ("rnnbench", "rnnbench.cli")]
    users = {m: {folder(user) for user, imported in graph.items() if m in imported} - {"rnnbench"} for m in top}
    assert {m: sorted(u) for m, u in users.items() if len(u) < 2} == {}


def test_no_two_classes_share_a_name():
    """One name, one meaning: a class name of rnnbench/ is defined once."""
    defined: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and name.split(".")[0] == "rnnbench":
                defined.setdefault(node.name, []).append(name)
    assert {k: v for k, v in defined.items() if len(v) > 1} == {}
