"""The README and docs/ keep their promises: the commands, every env var and metric, runnable
examples, generated tables."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from collapse_otel.config.envvars import ALL_ENV_VARS
from collapse_otel.export.names import ALL_METRICS
from tests.support.waiting import run_watched

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
         for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                      *sorted((ROOT / "docs").glob("*.md"))]}
ALL_TEXT = "\n".join(PAGES.values())
BLOCKS = [(f"{name}:{n}", m.group(2), bool(m.group(1)))
          for name, text in PAGES.items()
          for n, m in enumerate(re.finditer(
              r"(<!-- readme-test: skip[^\n]*-->\n)?```python\n(.*?)```", text, re.S))]


def test_the_make_targets_are_in_the_readme():
    for command in ("make demo", "make test", "make test-fast", "make test-unit", "make bench",
                    "make validate"):
        assert f"`{command}`" in README


def test_every_environment_variable_is_documented():
    assert [v.name for v in ALL_ENV_VARS if f"`{v.name}`" not in ALL_TEXT] == []


def test_every_metric_is_in_the_metrics_contract():
    """Each exported family has its own row in the contract table (not just a mention)."""
    page = PAGES["docs/metrics.md"]
    section = page.split("## The metrics contract", 1)[1].split("\n#", 1)[0]
    rows = {line.split("|")[1].strip().strip("`").split("_bucket/")[0]
            for line in section.splitlines() if line.startswith("| `collapse_")}
    names = {m.sample_name if m.kind != "histogram" else m.name for m in ALL_METRICS}
    assert sorted(names - rows) == []


def test_at_most_one_example_is_not_run():
    assert len(BLOCKS) >= 10
    assert sum(skipped for _, _, skipped in BLOCKS) <= 1
    assert sum(name.startswith("README.md:") for name, _, _ in BLOCKS) >= 3


@pytest.mark.parametrize("name,code,skipped", BLOCKS, ids=[name for name, _, _ in BLOCKS])
def test_python_example_runs(name, code, skipped, tmp_path):
    if skipped:
        pytest.skip(f"{name} is marked as needing an optional install")
    env = dict(os.environ, COLLAPSE_OTEL_METRICS_PORT="0", PYTHONPATH=str(ROOT))
    proc = run_watched([sys.executable, "-c", code], cwd=tmp_path, env=env)
    assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"


def test_signal_table_is_the_registry():
    """The signal table of docs/signals.md is generated from the registry (python -m
    collapse_otel.mixin rewrites it); it must not drift."""
    from collapse_otel.mixin.signal_doc import SIGNAL_PAGE, with_signal_table

    page = PAGES[SIGNAL_PAGE]
    assert with_signal_table(page) == page


def test_environment_tables_are_envvars():
    """The tables of docs/configuration.md are generated from collapse_otel/config/envvars.py
    (python -m tests.support.envvar_docs rewrites them); they must not drift."""
    from tests.support.envvar_docs import PAGE, with_tables

    page = PAGE.read_text(encoding="utf-8")
    assert with_tables(page) == page
