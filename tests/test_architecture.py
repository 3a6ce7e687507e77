"""The package's shape: its modules' imports form no cycle, and only `l2zoo/backends` asks
which Keras backend runs."""

import ast
import re
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "l2zoo"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path, modules: set[str]) -> set[str]:
    """The l2zoo modules `path` imports anywhere in its code (in functions too), each
    resolved to the module it names (`from l2zoo import plots` is `l2zoo.plots`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: internal_imports(path, modules) - {name} for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_modules_imports_form_no_cycle():
    graph = import_graph()
    assert {"l2zoo.training", "l2zoo.runs", "l2zoo.inference"} <= set(graph)
    assert "l2zoo.runs" in graph["l2zoo.training"]  # the walk sees real imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_backends_folder_asks_which_backend_runs():
    asks = re.compile(
        r"keras\.backend\.backend\(|config\.backend\(|environ(?:\.get)?\W+KERAS_BACKEND"
    )
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in [*PACKAGE.rglob("*.py"), *(REPO / "examples").glob("*.py")]
        if "backends" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if asks.search(line)
    ]
    assert offenders == []


def test_every_public_name_resolves_and_none_hides_a_submodule():
    import pkgutil

    import l2zoo

    submodules = {info.name for info in pkgutil.iter_modules(l2zoo.__path__)}
    assert {"training", "comparison", "tuning", "inference", "runs"} <= submodules
    assert not set(l2zoo.__all__) & submodules
    for name in l2zoo.__all__:
        assert getattr(l2zoo, name) is not None, name
    assert callable(l2zoo.compare) and callable(l2zoo.tune) and callable(l2zoo.epoch_line)


def test_examples_use_public_names_only():
    """An example imports `l2zoo` or names from it, never from its modules."""
    private = [
        f"{path.name}: {line.strip()}"
        for path in (REPO / "examples").glob("*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) l2zoo\.", line)
    ]
    assert private == []
