"""The import graph of src/elec: no circles, lazy and type-checking imports included."""

import ast
from pathlib import Path

SRC = Path(__file__).parent.parent / "src"


def imports() -> dict[str, set[str]]:
    """Each module of elec -> the modules of elec it imports, wherever in the file."""
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module."""
    found, order, reach = [], {}, {}
    stack: list[str] = []

    def visit(v: str) -> None:
        order[v] = reach[v] = len(order)
        stack.append(v)
        for w in graph[v]:
            if w not in order:
                visit(w)
                reach[v] = min(reach[v], reach[w])
            elif w in stack:
                reach[v] = min(reach[v], order[w])
        if reach[v] == order[v]:
            group = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in order:
            visit(v)
    return found


def test_the_import_graph_has_no_circle():
    graph = imports()
    assert len(graph) > 50 and "elec.serve.predictor" in graph["elec.serve"]
    assert circles(graph) == []
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# the README's layers, lowest first: a module imports only from its own layer or below
LAYERS = [("errors", "config", "machine", "ui", "plots"), ("data",), ("text",), ("models",),
          ("llm", "distill", "train"), ("serve",),
          ("methods", "builders", "stages", "rundir", "planner", "runnable", "inputs"),
          ("pipeline", "exporter", "teacher"), ("bench", "report", "cli")]


def layer(module: str) -> int:
    top = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_imports_point_down_the_layers():
    graph = imports()
    # every module has its layer (a new top-level one must be placed), elec itself aside
    # (its version, and the public API that resolves names on first use)
    up = [f"{m} -> {t}" for m, targets in graph.items() if m != "elec"
          for t in targets if t != "elec" and layer(t) > layer(m)]
    assert up == []
    readme = (SRC.parent / "README.md").read_text()
    assert " -> ".join(", ".join(names) for names in LAYERS) in " ".join(readme.split())


def test_the_public_api_resolves_every_name_and_import_elec_stays_light():
    import importlib
    import subprocess
    import sys

    import elec

    for name in elec.__all__[1:]:  # each the object its module defines, no submodule of elec
        module = importlib.import_module(elec._API[name])
        assert getattr(elec, name) is getattr(module, name), name
        # a submodule of that name would shadow it once imported
        assert not (SRC / "elec" / f"{name}.py").exists() and not (SRC / "elec" / name).is_dir()
    assert elec.plan.__module__ == "elec.planner" and callable(elec.export)
    # importing elec alone loads none of its modules (nor torch)
    done = subprocess.run([sys.executable, "-c", "import sys, elec; print(sorted(m for m in "
                           "sys.modules if m.startswith(('elec.', 'torch'))))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_benchmarks_and_examples_use_the_public_api():
    root = SRC.parent
    deep = set()
    for path in [*(root / "benchmarks").rglob("*.py"), *(root / "examples").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(name.startswith("elec.") for name in names):
                deep.add(path.name)
    assert not deep, sorted(deep)
