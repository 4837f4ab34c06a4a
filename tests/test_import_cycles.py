"""No import cycle among segan_cli's modules, function-level imports included.

A cycle hidden in a function-level import still ties two modules together: neither can
be understood, moved or tested without the other, and the import order decides which
one sees the other half-initialised. The modules' sources are read with :mod:`ast`
(nothing is imported), so every ``import`` counts wherever it sits: module level,
inside a function, under ``if TYPE_CHECKING``. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, and to ``pkg`` otherwise; relative imports are
resolved against the importing module's package. Importing a module runs its parent
packages' ``__init__`` as well, but those are not counted as edges: a package that
re-exports its submodules would otherwise be in a cycle with each of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import segan_cli

PACKAGE = Path(segan_cli.__file__).resolve().parent

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the import}


def modules(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Every module under ``root``: dotted name -> (file, is a package)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path = PACKAGE) -> Graph:
    """Which segan_cli modules each segan_cli module imports, and on which line."""
    known = modules(root)
    graph: Graph = {}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            for target in targets:
                if target in known and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        state[start] = 1
        todo = [iter(sorted(graph[start]))]
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph[nxt])))
    return None


def describe(cycle: list[str], graph: Graph) -> str:
    """``a (line 3) -> b (line 40) -> a``: each step with the line of its import."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycle_among_segan_cli_modules() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {describe(cycle, graph)}"


def test_the_walk_sees_function_level_and_submodule_imports() -> None:
    graph = import_graph()
    assert len(graph) > 100
    # a function-level import (the package's lazy API)
    assert "segan_cli.core.api" in graph["segan_cli"]
    # ``from segan_cli.core.enhancement import batch_enhance``: the submodule, not the package
    assert "segan_cli.core.enhancement.batch_enhance" in graph["segan_cli.cli.enhance"]
    assert "segan_cli.core.enhancement" not in graph["segan_cli.cli.enhance"]


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import os\n\n\ndef g():\n    import pkg.a\n")
    graph = import_graph(pkg)
    cycle = find_cycle(graph)
    assert cycle == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    assert describe(cycle, graph) == ("pkg.a (line 1) -> pkg.sub.b (line 2) -> pkg.c (line 5)"
                                      " -> pkg.a")
    del graph["pkg.c"]["pkg.a"]
    assert find_cycle(graph) is None


def package_graph(graph: Graph, root: str = "segan_cli.core") -> Graph:
    """The module graph folded onto ``root``'s sub-packages (and top modules): an edge
    from one package to another when any module of the first imports one of the second."""
    depth = root.count(".") + 2

    def package(module: str) -> str | None:
        inside = module.startswith(root + ".")
        return ".".join(module.split(".")[:depth]) if inside else None

    folded: Graph = {}
    for module, imported in graph.items():
        a = package(module)
        if a is None:
            continue
        folded.setdefault(a, {})
        for other, line in imported.items():
            b = package(other)
            if b is not None and b != a:
                folded[a].setdefault(b, line)
    return folded


def test_no_two_core_packages_import_each_other() -> None:
    # the README's Architecture section: low packages know nothing of the high ones
    folded = package_graph(import_graph())
    assert {"segan_cli.core.io", "segan_cli.core.enhancement",
            "segan_cli.core.training"} <= set(folded)
    cycle = find_cycle(folded)
    assert cycle is None, f"packages in a circle: {' -> '.join(cycle or [])}"
    for low in ("runtime", "dsp", "models"):
        assert folded.get(f"segan_cli.core.{low}", {}) == {}, low
    assert set(folded["segan_cli.core.io"]) == {"segan_cli.core.runtime"}
