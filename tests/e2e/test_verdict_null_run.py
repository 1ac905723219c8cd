"""A day of 30 s evaluations of releases that do not differ, judged by the real promtool:
the verdict's anytime-valid bounds degrade no signal and raise no alert, where the one-look
z-test rule on the same draws degrades some (tests/support/promtool_null_run.py writes the run)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.support import promtool_null_run as N
from tests.support.requires import require_binary


def test_the_noise_has_the_exported_error() -> None:
    """The generator's window values spread as their exported standard error says, filling
    and full, and a full window turns over in an hour (the right variance and the right
    memory, or the null run proves nothing)."""
    rng = np.random.default_rng(1)
    runs = [N.release(rng, 3 * N.WINDOW) for _ in range(400)]
    values = np.stack([v[:, 0] for v, _ in runs])
    errors = runs[0][1][:, 0]
    for step in (9, N.WINDOW - 1, 2 * N.WINDOW + 5):
        assert values[:, step].std() == pytest.approx(errors[step], rel=0.12), step
    assert errors[-1] == pytest.approx(N.REL_SE)
    lag = np.corrcoef(values[:, N.WINDOW], values[:, 2 * N.WINDOW])[0, 1]
    assert abs(lag) < 0.15      # one window later: fresh answers


@pytest.mark.e2e
def test_a_day_of_evaluations_raises_no_false_alert(tmp_path) -> None:
    """25 h of 30 s evaluations on 6 streams (drained and live references); promtool asserts
    every stream was judged all day and that no signal degraded at any evaluation. About 3
    CPU minutes of promtool."""
    promtool = require_binary("promtool")
    assert N.fixed_horizon_degradations() > 0   # the draws do fool a one-look test
    path = N.write(tmp_path)
    proc = subprocess.run([promtool, "test", "rules", path.name], capture_output=True,
                          text=True, timeout=3600, cwd=tmp_path)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout[-3000:] + proc.stderr
