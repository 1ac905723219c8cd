"""A long null run for promtool: 25 h of 30 s evaluations of releases that do not differ.

    python -m tests.support.promtool_null_run OUT.yaml

Each stream is a release r2 compared with its previous release r1 drawn from the same
distribution. The noise is that of the exporter's sliding windows: every 30 s a batch of
answers arrives; a window holds the last hour (120 batches), filling from the release's start;
a signal's value is its window's mean of per-batch draws, and its exported standard error the
exact one of that mean (so it shrinks while the window fills, then stays). Six verdict signals
in three families move, with a common factor between them (they are computed on the same
sample); the others keep their healthy value. The change's error is about 2.5% where the floor
is 5%, so the floor alone passes often, and a z-test would cross its bound somewhere in a day.

Streams: ``drained`` ones compare r2 with r1's last window (r1 served the first hour, then
took no more traffic: its window stays as it was, the case of a retired release, whose last
values the rules keep); ``live`` ones are canaries, r1 and r2 served side by side all day.
The rules are the production rules with a short ``previous_release_lookback`` (a day-long
lookback at every one of 3,000 evaluations makes promtool quadratic; nothing here is retired).

The generated test expects no instant at which any signal degraded (hence no alert) on any
stream. :func:`fixed_horizon_degradations` counts, on the same draws, the signals that the
fixed-horizon z-test rule (the change at the floor and z beyond the Bonferroni bound, as the
rules judged before) would have degraded at some evaluation.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.mixin.verdict import degraded, suspected, z_critical
from collapse_otel.mixin.yamlout import dump
from collapse_otel.signals.registry import VERDICT_SIGNALS
from tests.support.promtool_verdict import BASE, _labels

STEP_S = 30
HOURS = 25
STEPS = HOURS * 3600 // STEP_S              # evaluations (and samples) per series
WINDOW = 3600 // STEP_S                     # batches in a full window (one hour)
PER_BATCH = 10                              # answers per 30 s batch
NOISY = ("distinct_2", "self_bleu", "compression_ratio", "word_hill_1",
         "entities_per_answer", "entity_hill_0")
REL_SE = 0.018                              # a full window's relative error per side
COMMON = 0.6                                # correlation between the noisy signals
DRAINED, LIVE = 3, 3                        # streams of each kind
SEED = 20261207


def _window_means(draws: np.ndarray) -> np.ndarray:
    """Mean of the last WINDOW rows at every step (fewer while filling), per column."""
    csum = np.cumsum(draws, axis=0)
    out = np.empty_like(csum)
    n = np.minimum(np.arange(1, len(draws) + 1), WINDOW)[:, None]
    out[:WINDOW] = csum[:WINDOW]
    out[WINDOW:] = csum[WINDOW:] - csum[:-WINDOW]
    return out / n


def release(rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, standard errors) of the noisy signals at every step, relative to their
    healthy values (1 + noise): a window of per-batch draws sharing a common factor."""
    k = len(NOISY)
    sd = REL_SE * math.sqrt(WINDOW)          # per-batch draw, so a full window has REL_SE
    common = rng.standard_normal((steps, 1))
    own = rng.standard_normal((steps, k))
    draws = sd * (math.sqrt(COMMON) * common + math.sqrt(1 - COMMON) * own)
    n = np.minimum(np.arange(1, steps + 1), WINDOW)[:, None]
    return 1 + _window_means(draws), np.repeat(sd / np.sqrt(n), k, axis=1)


def _series(values: list[float]) -> str:
    """promtool's notation: runs of equal values folded into v+0xN."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        v = f"{values[i]:.6g}"
        out.append(v if j == i else f"{v}+0x{j - i}")
        i = j + 1
    return " ".join(out)


def _stream(service: str, rel: str, start: int, stop: int, values: np.ndarray,
            errors: np.ndarray, previous: str = "") -> list[dict]:
    """Input series of one release served from step ``start`` to ``stop`` (exclusive)."""
    pad = "_x" + str(start) + " " if start else ""
    common = dict(job="collapse-otel", instance=f"{service}-{rel}", service=service,
                  release=rel)
    stream = dict(common, cohort="default")
    n = stop - start
    answers = [float(min(i + 1, WINDOW) * PER_BATCH) for i in range(n)]
    out = [{"series": "collapse_release_info" + _labels(**common, previous_release=previous,
                                                          baseline_release=""),
            "values": pad + f"1+0x{n - 1}"},
           {"series": "collapse_window_answers" + _labels(**stream),
            "values": pad + _series(answers)}]
    for s in VERDICT_SIGNALS:
        value, se = BASE.get(s.key, (10.0, 0.1))
        if s.key in NOISY:
            col = NOISY.index(s.key)
            vs = [round(value * x, 6) for x in values[:n, col]]
            es = [round(value * x, 6) for x in errors[:n, col]]
        else:
            vs, es = [value] * n, [se] * n
        out.append({"series": s.metric + _labels(**stream, **dict(s.labels)),
                    "values": pad + _series(vs)})
        out.append({"series": "collapse_window_signal_stderr" + _labels(**stream,
                                                                          signal=s.key),
                    "values": pad + _series(es)})
    return out


def draws(seed: int = SEED) -> list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray,
                                          np.ndarray]]:
    """Per stream: (service, r1's last step, r1 values, r1 errors, r2 values, r2 errors)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(DRAINED + LIVE):
        drained = i < DRAINED
        v1, e1 = release(rng, STEPS)
        if drained:      # no traffic after the first hour: the window stays as it was
            v1[WINDOW:], e1[WINDOW:] = v1[WINDOW - 1], e1[WINDOW - 1]
        v2, e2 = release(rng, STEPS - (WINDOW if drained else 0))
        out.append((f"{'drained' if drained else 'live'}{i}", WINDOW if drained else STEPS,
                    v1, e1, v2, e2))
    return out


CONFIG = {"previous_release_lookback": "10m"}


def document(rules: Path, alerts: Path, seed: int = SEED) -> dict:
    series: list[dict] = []
    for service, stop1, v1, e1, v2, e2 in draws(seed):
        start2 = stop1 if stop1 < STEPS else 0
        series += _stream(service, "r1", 0, STEPS, v1, e1)
        series += _stream(service, "r2", start2, STEPS, v2, e2, previous="r1")
    at = f"{HOURS}h"
    ever = f"[{HOURS}h]"
    return {
        "rule_files": [str(rules), str(alerts)],
        "evaluation_interval": f"{STEP_S}s",
        "group_eval_order": ["collapse-otel.rules", "collapse-otel.alerts"],
        "tests": [{
            "interval": f"{STEP_S}s",
            "input_series": series,
            "promql_expr_test": [
                # every stream was judged against r1 for most of the day ...
                {"expr": f"count(count_over_time({suspected('previous_release')}{ever}) "
                         f"> {STEPS // 2})",
                 "eval_time": at, "exp_samples": [{"labels": "{}",
                                                   "value": DRAINED + LIVE}]},
                # ... and no signal of any stream degraded at any evaluation
                {"expr": f"count(count_over_time({degraded('previous_release')}{ever}))",
                 "eval_time": at, "exp_samples": []},
                {"expr": f"max_over_time({suspected('previous_release')}{ever}) > 0",
                 "eval_time": at, "exp_samples": []},
                {"expr": 'ALERTS{alertname="CollapseReleaseRegression"}',
                 "eval_time": at, "exp_samples": []},
            ],
        }],
    }


def fixed_horizon_degradations(seed: int = SEED, cfg: MixinConfig | None = None) -> int:
    """(stream, signal) pairs the fixed-horizon rule degrades at some evaluation (both
    windows holding the verdict's minimum answers): the change at the floor and z beyond
    the Bonferroni bound, checked every 30 s."""
    cfg = cfg or MixinConfig()
    z = z_critical(cfg)
    need = math.ceil(cfg.verdict_min_window_answers / PER_BATCH) - 1
    floors = {s.key: s for s in VERDICT_SIGNALS}
    count = 0
    for _, stop1, v1, e1, v2, e2 in draws(seed):
        if stop1 < STEPS:       # drained: r1's last window against every window of r2
            a, sa = np.broadcast_to(v1[-1], v2.shape), np.broadcast_to(e1[-1], e2.shape)
        else:
            a, sa = v1, e1
        change = (v2 - a) / a
        zs = (v2 - a) / np.hypot(e2, sa)
        ok = np.arange(len(v2)) >= need
        for col, key in enumerate(NOISY):
            s = floors[key]
            way = s.collapse
            hit = (change[:, col] * way >= s.floor) & (zs[:, col] * way >= z) & ok
            count += bool(hit.any())
    return count


def write(directory: Path, seed: int = SEED) -> Path:
    """The rule files (production rules, CONFIG applied) and the test, in ``directory``."""
    files = generate(MixinConfig().with_overrides(CONFIG))
    rules, alerts = directory / "rules.yaml", directory / "alerts.yaml"
    rules.write_text(files[RULES_PATH])
    alerts.write_text(files[ALERTS_PATH])
    out = directory / "verdict_null_run_test.yaml"
    out.write_text(dump(document(rules, alerts, seed), __doc__.strip().splitlines()[0]))
    return out


def main(argv: list[str]) -> int:
    out = write(Path(argv[0]) if argv else Path("."))
    print(out, "fixed-horizon degradations:", fixed_horizon_degradations())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
