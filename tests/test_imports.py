"""The package's import graph: no cycles, and the layers import only downwards.

The graph is read from the source with ``ast`` (nothing is imported). Every ``import`` counts,
wherever it is written: also the ones inside functions, run lazily on first use. A lazy import
still ties the two modules together (each needs the other to work), and such pairs are how cycles
crept in before. Imports under ``if TYPE_CHECKING:`` do not count: they never run.

An edge goes to the module named, not to the packages around it: ``from .capture import BLOCK``
in ``asynclab.timeline.model`` is an edge to ``asynclab.timeline.capture`` only, although Python
also runs ``asynclab/timeline/__init__.py`` first. (Counting those would make every submodule of a
package that re-exports its submodules part of a cycle.) Naming a package (``from ..timeline
import Timeline``) is an edge to its ``__init__``.
"""

import ast
import json
import re
from pathlib import Path

from checkout import NOTEBOOKS_DIR, PACKAGE_DIR, ROOT

PACKAGE = "asynclab"

# Each notebook's exercises check the learner's code against that notebook's lesson helpers.
LESSONS_IMPORTS_ALLOWED = {
    "asynclab.exercises.nb01 -> asynclab.lessons.nb01",
    "asynclab.exercises.nb04 -> asynclab.lessons.nb04",
}
PACKAGE_LAYERS = ("timeline", "services", "exercises", "kernel", "magic", "paths", "_ipython")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom, at any depth, except inside ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = []
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                targets.append(submodule if submodule in modules else target)
        for target in targets:
            # `import asynclab.timeline.capture` names that module; keep the longest known prefix.
            parts = target.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.add(".".join(parts))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative): the groups of modules that import each other in a ring."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return groups


def a_cycle_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete ring inside ``group``, for the failure message: a -> b -> ... -> a."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & group):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no ring in {group}")


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # kernel.py imports the leaf helper at the top; asynclab/__init__.py imports kernel inside a function.
    assert "asynclab._ipython" in graph["asynclab.kernel"]
    assert "asynclab.kernel" in graph["asynclab"]
    # recorder.py imports notebook inside a method, and `from . import analysis` names a module.
    assert {"asynclab.timeline.notebook", "asynclab.timeline.analysis"} <= graph["asynclab.timeline.recorder"]
    assert "asynclab.timeline" in graph["asynclab.magic"]  # `from .timeline import Timeline`, in a function


def test_a_cycle_is_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert a_cycle_through({"a", "b", "c"}, graph) == ["a", "b", "c", "a"]


def test_the_package_has_no_import_cycles():
    graph = import_graph()
    cycles = list(strongly_connected(graph))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(a_cycle_through(g, graph)) for g in cycles)


def _imports_between(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    def inside(module: str, layer: str) -> bool:
        return module == f"{PACKAGE}.{layer}" or module.startswith(f"{PACKAGE}.{layer}.")

    return sorted(
        f"{module} -> {imported}"
        for module, imports in graph.items()
        if inside(module, source)
        for imported in imports
        if inside(imported, target)
    )


def test_the_layers_import_only_downwards():
    graph = import_graph()
    assert not _imports_between(graph, "timeline", "services")
    assert not _imports_between(graph, "services", "timeline")
    for lower in ("timeline", "services"):  # exercises may use the timeline, never the reverse
        assert not _imports_between(graph, lower, "exercises")
    # The lessons' helpers are for the notebooks: the package imports them nowhere else.
    lessons_importers = {edge for layer in PACKAGE_LAYERS for edge in _imports_between(graph, layer, "lessons")}
    assert lessons_importers == LESSONS_IMPORTS_ALLOWED
    assert not _imports_between(graph, "lessons", "exercises")
    assert graph["asynclab._ipython"] == set()


def _local_top_level_names() -> set[str]:
    """Modules and packages of this repository outside the package (tests, scripts, ...)."""
    names = set()
    for folder in (ROOT / "tests", ROOT / "scripts", ROOT / "benchmarks", NOTEBOOKS_DIR, ROOT):
        for path in folder.iterdir():
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                names.add(path.stem)
        names.add(folder.name)
    names.discard(PACKAGE)
    return names


_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w., ]+))", re.M)


def _top_level_imports(source: str) -> set[str]:
    names = set()
    for from_name, import_names in _IMPORT_LINE.findall(source):
        for dotted in [from_name] if from_name else import_names.split(","):
            if dotted.strip():
                names.add(dotted.strip().split()[0].split(".")[0])
    return names


def test_notebooks_import_only_asynclab_of_this_repository_and_the_package_nothing_outside():
    local = _local_top_level_names()
    assert {"nbharness", "build_site", "tests"} <= local
    for notebook in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        assert "asynclab" in _top_level_imports(source) or notebook.name.startswith("00")
        assert not _top_level_imports(source) & local, notebook.name
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        absolute = {
            alias.name.split(".")[0]
            for node in _import_nodes(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in _import_nodes(tree)
            if isinstance(node, ast.ImportFrom) and not node.level and node.module
        }
        assert not absolute & local, path
