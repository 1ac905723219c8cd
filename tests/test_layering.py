"""Dependency direction (DESIGN.md section 3): text and signals import no OTel, Prometheus or
LangChain; the aggregator imports only text, signals, records, config and snapshot types; the
simulation is pure Python and numpy below every product layer."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "collapse_otel"
FORBIDDEN = ("opentelemetry", "prometheus_client", "langchain", "langgraph")
CORE = ("aggregator.py", "analysis.py", "stream.py", "snapshot.py", "records.py", "config.py", "feeding.py",
        "envvars.py", "labels.py", "lineage.py", "registry.py", "window.py", "budget.py",
        "state_frames.py")


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
                        "pathlib", "typing"}, f"{path.name} imports {module}"


def test_core_imports_stay_below_capture_and_export():
    for name in CORE:
        for module in imports_of(PKG / name):
            assert not module.startswith(FORBIDDEN), f"{name} imports {module}"
            assert not module.startswith((".capture", ".export", ".demo", ".mixin")), \
                f"{name} imports {module}"


def test_no_module_is_huge():
    for path in PKG.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, f"{path} is over ~400 lines"


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
