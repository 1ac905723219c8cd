"""The README keeps its promises: the two commands, every env var and metric, runnable examples."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from collapse_otel.envvars import ALL_ENV_VARS
from collapse_otel.export.names import ALL_METRICS
from tests.waiting import run_watched

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(2), bool(m.group(1))) for m in re.finditer(
    r"(<!-- readme-test: skip[^\n]*-->\n)?```python\n(.*?)```", README, re.S)]


def test_two_commands_and_bench():
    for command in ("make demo", "make test", "make bench"):
        assert command in README


def test_every_environment_variable_is_documented():
    assert [v.name for v in ALL_ENV_VARS if f"`{v.name}`" not in README] == []


def test_every_metric_is_in_the_metrics_contract():
    """Each exported family has its own row in the contract table (not just a mention)."""
    section = README.split("### The metrics contract", 1)[1].split("\n#", 1)[0]
    rows = {line.split("|")[1].strip().strip("`").split("_bucket/")[0]
            for line in section.splitlines() if line.startswith("| `collapse_")}
    names = {m.sample_name if m.kind != "histogram" else m.name for m in ALL_METRICS}
    assert sorted(names - rows) == []


def test_at_most_one_example_is_not_run():
    assert len(BLOCKS) >= 10
    assert sum(skipped for _, skipped in BLOCKS) <= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_example_runs(index, tmp_path):
    code, skipped = BLOCKS[index]
    if skipped:
        pytest.skip("marked in the README as needing an optional install")
    env = dict(os.environ, COLLAPSE_OTEL_METRICS_PORT="0", PYTHONPATH=str(ROOT))
    proc = run_watched([sys.executable, "-c", code], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_signal_table_is_the_registry():
    """The README's signal table is generated from the registry (python -m collapse_otel.mixin
    rewrites it); it must not drift."""
    from collapse_otel.mixin.signal_doc import with_signal_table

    assert with_signal_table(README) == README
