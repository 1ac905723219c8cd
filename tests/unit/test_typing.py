"""The package's types are checked: py.typed promises them to every user's type checker.

`make test` and `make lint` run mypy over the package (the [tool.mypy] config); these tests pin
that step and check that the lazily loaded root names carry their real signatures.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import pytest
from mypy import api as mypy_api

import collapse_otel

ROOT = Path(__file__).resolve().parents[2]
Snippet = Callable[[str], tuple[str, int]]


@pytest.fixture
def mypy_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Snippet:
    """mypy's output and exit status on a user's module, under the project's config, with the
    package found from the checkout (mypy looks in the working directory)."""
    monkeypatch.chdir(ROOT)

    def run(code: str) -> tuple[str, int]:
        user = tmp_path / "user.py"
        user.write_text(code)
        # --follow-imports=silent: the package's own errors are the Makefile step's business
        out, err, status = mypy_api.run([
            "--config-file", "pyproject.toml", "--follow-imports=silent",
            "--no-error-summary", "--hide-error-context", "--no-pretty", str(user)])
        # mypy notes on config sections this small run does not touch are not findings
        out = "".join(line for line in out.splitlines(keepends=True)
                      if not line.startswith("pyproject.toml: note: unused section"))
        return out.replace(str(user), "user.py") + err, status
    return run


def test_lazy_root_names_have_their_real_signatures(mypy_snippet: Snippet) -> None:
    out, status = mypy_snippet(
        "from collapse_otel import observe\n"
        "import collapse_otel\n"
        "x: str = observe('a')\n"
        "y: str = collapse_otel.flush()\n"
        "ok: bool = observe('a', release='r1')\n")
    assert status == 1, out
    errors = sorted(re.findall(r"user.py:(\d+): error: (.*)", out))
    assert [line for line, _ in errors] == ["3", "4"], out
    assert errors[0][1] == ('Incompatible types in assignment (expression has type "bool", '
                            'variable has type "str")  [assignment]')
    assert errors[1][1].startswith("Incompatible types in assignment")


def test_a_correct_use_of_the_root_api_checks_clean(mypy_snippet: Snippet) -> None:
    out, status = mypy_snippet(
        "import collapse_otel\n"
        "from collapse_otel.engine import Aggregator, AggregatorSnapshot\n"
        "queued: bool = collapse_otel.observe('a', release='r1', completion_tokens=3)\n"
        "agg = Aggregator(collapse_otel.CollapseConfig())\n"
        "snap: AggregatorSnapshot = agg.snapshot()\n")
    assert (status, out.strip()) == (0, ""), out


def _type_checking_imports() -> dict[str, str]:
    """name -> module of the imports under ``if TYPE_CHECKING:`` in the package root."""
    tree = ast.parse((ROOT / "collapse_otel" / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1, ast.unparse(imp)
                for alias in imp.names:
                    assert alias.asname == alias.name, ast.unparse(imp)   # an explicit re-export
                    names[alias.name] = f"collapse_otel.{imp.module}"
    return names


def test_type_checking_imports_name_the_lazy_exports() -> None:
    """Checkers see, under each lazy root name, the very object ``__getattr__`` loads."""
    seen = _type_checking_imports()
    assert sorted(seen) == sorted(collapse_otel._LAZY)
    for name, module in seen.items():
        assert getattr(import_module(module), name) is getattr(collapse_otel, name), name


def test_make_test_and_lint_run_mypy_after_ruff() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "lint"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe is not None, target
        steps = [line.strip() for line in recipe.group(1).splitlines()]
        assert steps[:2] == ["$(BIN)/ruff check .", "$(BIN)/mypy"], (target, steps)
