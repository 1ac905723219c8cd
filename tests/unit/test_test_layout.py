"""tests/ stays navigable: test modules live in unit/, integration/ or e2e/ (by what they
start), helpers in support/, and no test module imports another one (a shared helper moves
to support/, where it is found and where it cannot be collected twice)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "integration", "e2e")
PLUMBING = {"__init__.py", "conftest.py"}


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "data" not in p.relative_to(TESTS).parts)


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module an import statement of ``source`` (in ``package``) names, relative imports
    resolved; ``from pkg import name`` counts ``pkg.name`` too, as ``name`` may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def _test_modules_imported(path: Path) -> list[str]:
    package = ".".join(("tests", *path.relative_to(TESTS).parent.parts))
    return sorted(m for m in _imported_modules(path.read_text(encoding="utf-8"), package)
                  if m.startswith("tests.") and
                  m.rpartition(".")[2].startswith(("test_", "conftest")))


def test_every_test_module_is_in_unit_integration_or_e2e():
    misplaced = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                 if p.relative_to(TESTS).parts[0] not in FOLDERS]
    assert misplaced == []


def test_every_helper_module_is_in_support():
    misplaced = [str(p.relative_to(TESTS)) for p in _python_files()
                 if not p.name.startswith("test_") and p.name not in PLUMBING
                 and p.relative_to(TESTS).parts[0] != "support"]
    assert misplaced == []


def test_no_module_imports_a_test_module_or_a_conftest():
    found = {str(p.relative_to(TESTS)): _test_modules_imported(p) for p in _python_files()}
    assert {path: mods for path, mods in found.items() if mods} == {}


def test_support_holds_no_tests():
    tests = []
    for path in sorted((TESTS / "support").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.startswith("test") or \
                    isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                tests.append(f"{path.name}::{node.name}")
    assert not list((TESTS / "support").rglob("test_*.py"))
    assert tests == []


def test_the_checks_see_what_they_check():
    """The walks find this module and the folders; the import check resolves every spelling
    of an import of a test module (a check that cannot fail is a defect)."""
    assert Path(__file__) in _python_files()
    assert all((TESTS / folder / "__init__.py").is_file() for folder in (*FOLDERS, "support"))
    spellings = {
        "from tests.unit.test_x import helper": "tests.unit.test_x",
        "from .test_x import helper": "tests.unit.test_x",
        "from . import test_x": "tests.unit.test_x",
        "from ..conftest import DATA": "tests.conftest",
        "import tests.e2e.test_x": "tests.e2e.test_x",
        "from tests.support import waiting": "tests.support.waiting",
    }
    for source, module in spellings.items():
        assert module in _imported_modules(source, "tests.unit"), source
