"""Dependency direction between the subpackages of collapse_otel, declared once (LAYERS) and
checked on the real import graph: a unit imports only units of lower layers, never one of its
own layer or above, so the graph has no cycle. text and signals import no OTel, Prometheus or
LangChain, nor does anything below the worker; the simulation is pure Python and numpy."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "collapse_otel"
FORBIDDEN = ("opentelemetry", "prometheus_client", "langchain", "langgraph")

# Lowest first. A unit is a subpackage or a top-level module; it may import any unit of a
# lower layer and none of its own layer or above. A new subpackage joins one of these layers.
LAYERS: list[set[str]] = [
    {"version", "forksafe", "extension"},  # the version; fork-safe locks; the compiled core
    {"text", "simulation"},              # algorithms on text; the ground-truth simulation
    {"signals"},                         # sketches, batch definitions, the signal registry
    {"records"},                         # AnswerRecord, StreamKey, Outcome
    {"config"},                          # CollapseConfig, environment variables, lineage
    {"state", "turns"},                  # on-disk formats; what a user turn's answer is
    {"engine"},                          # the aggregator: answers in, snapshots out
    {"multiprocess"},                    # state files per worker process, merged
    {"worker"},                          # the capture queue and its thread
    {"spans", "offload", "export"},      # span reading; analysis in a child; /metrics, OTLP
    {"capture", "serve"},                # in-process capture; the OTLP receiver service
    {"compare", "mixin"},                # the release gate; rules, alerts, dashboards
    {"audit", "demo"},                   # training-data provenance; the simulated agent
    {"cli"},                             # `collapse-otel ...`
]
# below the worker nothing needs a framework: capture, export and serve bring them
FRAMEWORK_FREE = ("forksafe", "extension", "text", "signals", "records", "config", "state", "turns", "engine")


def layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add(("." * node.level) + (node.module or ""))
    return out


def test_text_and_signals_import_no_frameworks():
    for folder in ("text", "signals"):
        for path in (PKG / folder).glob("*.py"):
            bad = [m for m in imports_of(path) if m.startswith(FORBIDDEN)]
            assert not bad, f"{path.name} imports {bad}"


def test_simulation_imports_only_numpy_and_itself():
    for path in (PKG / "simulation").glob("*.py"):
        for module in imports_of(path):
            top = module.split(".")[0]
            assert module.startswith(".") and not module.startswith("..") or \
                top in {"__future__", "numpy", "bisect", "collections", "dataclasses", "gzip",
                        "pathlib", "typing", "functools", "re"}, f"{path.name} imports {module}"


def test_nothing_below_the_worker_imports_a_framework():
    for folder in FRAMEWORK_FREE:
        for path in (PKG / folder).glob("*.py"):
            bad = [m for m in imports_of(path) if m.startswith(FORBIDDEN)]
            assert not bad, f"{folder}/{path.name} imports {bad}"


def test_functions_stay_simple():
    """The size cap is a complexity cap (ruff's C901, max-complexity in pyproject.toml): a
    module may grow with its responsibility, a function may not grow branches."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "C901", str(PKG)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_importing_the_package_loads_no_framework():
    import subprocess
    import sys

    code = ("import sys, collapse_otel; "
            "bad = [m for m in sys.modules if m.startswith(('langchain', 'opentelemetry.sdk', "
            "'prometheus_client', 'langgraph'))]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_public_name_resolves():
    import collapse_otel

    for name in collapse_otel.__all__:
        assert getattr(collapse_otel, name) is not None, name


def test_one_version_source_and_typed_package():
    """The version is written once (collapse_otel/version.py; pyproject reads it) and the
    package ships py.typed, as typed OpenTelemetry packages do."""
    import importlib.metadata

    import collapse_otel
    from collapse_otel.version import __version__

    assert collapse_otel.__version__ == __version__ == importlib.metadata.version("collapse-otel")
    assert (PKG / "py.typed").exists()
    text = (PKG.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "version.__version__" in text
    assert __version__ not in text


def _module_name(path: Path) -> tuple[list[str], bool]:
    parts = ["collapse_otel", *path.relative_to(PKG).with_suffix("").parts]
    is_package = parts[-1] == "__init__"
    return (parts[:-1] if is_package else parts), is_package


def _runtime_imports(tree: ast.AST):
    """Every import statement, at module level or inside functions, except the
    ``if TYPE_CHECKING:`` blocks that never run."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
            yield node


def _targets(node: ast.Import | ast.ImportFrom, package: list[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not node.level:
        return [node.module or ""]
    base = package[:len(package) - (node.level - 1)]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, a.name]) for a in node.names]   # from .. import x


def import_graph() -> dict[str, set[str]]:
    """Unit -> units it imports. A unit is a subpackage (``capture``) or a top-level module
    (``cli``) of collapse_otel; function-level imports count. ``__main__`` modules are entry
    points nothing imports, so they are left out."""
    units = {p.name if p.is_dir() else p.stem for p in PKG.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        if path.name == "__main__.py" or path.parent == PKG and path.name == "__init__.py":
            continue
        module, is_package = _module_name(path)
        package = module if is_package else module[:-1]
        unit = module[1]
        for node in _runtime_imports(ast.parse(path.read_text())):
            for target in _targets(node, package):
                parts = target.split(".")
                if parts[0] == "collapse_otel" and len(parts) > 1 and parts[1] in units \
                        and parts[1] != unit:
                    graph.setdefault(unit, set()).add(parts[1])
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_unit_has_a_layer_and_every_layer_a_unit():
    units = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    units |= {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    declared = set().union(*LAYERS)
    assert sorted(units - declared) == [], "give it a layer in LAYERS"
    assert sorted(declared - units) == [], "named in LAYERS but not in collapse_otel/"


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{unit} -> {dep}" for unit, deps in graph.items() for dep in deps
                  if layer_of(dep) >= layer_of(unit))


def test_imports_only_point_down_the_layers():
    """Function-level imports count: an import hidden inside a function is still a
    dependency."""
    graph = import_graph()
    assert {"capture", "export", "serve", "spans", "worker", "engine"} <= set(graph)
    assert upward_edges(graph) == []
    assert _cycles(graph) == []


def test_the_layer_check_finds_an_upward_edge():
    assert upward_edges({"engine": {"text", "capture"}, "text": set()}) == ["engine -> capture"]
    assert upward_edges({"spans": {"export"}}) == ["spans -> export"]   # same layer
    assert upward_edges({"export": {"worker"}}) == []


def test_no_test_only_code_in_the_package():
    assert not (PKG / "export" / "synthetic.py").exists()   # test-only code lives in tests/


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
