"""The duplicate-spike alert on real aggregator counters: an FAQ bot whose users all start
asking the same thing does not page when capture knows the questions (it did when it did not),
and a model that starts giving the same answers to different questions does.

Two hours of traffic go through a real Aggregator minute by minute (record timestamps), the
exported counter rows of each minute become promtool's input series, and the generated rules
and alerts (shorter windows, same expressions) are evaluated by the real promtool.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import yaml

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.export.series import stream_rows, unique_streams
from collapse_otel.mixin.alerts import alerts_file
from collapse_otel.mixin.config import MixinConfig
from collapse_otel.mixin.rules import rules_file
from collapse_otel.records import AnswerRecord
from tests.support.requires import require_binary
from tests.support.waiting import run_watched

MINUTES, SHIFT, PER_MINUTE = 120, 90, 30
COUNTERS = ("collapse_answers", "collapse_duplicate_answers", "collapse_answers_with_question",
            "collapse_cross_question_duplicates")
CFG = MixinConfig(rate_window_long="10m", baseline_window="1h", baseline_offset="10m",
                  duplicate_window="10m", duplicate_for="2m")
WORDS = ["river", "bridge", "market", "tower", "harbor", "museum", "garden", "station", "castle", "valley"]


def _fresh(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(12)) + f" ticket {rng.randrange(10**9)}"


def traffic(minute: int, rng: random.Random, canned: dict[int, str], replies: list[str]):
    """(service, answer, question) of one minute for the three services."""
    for i in range(PER_MINUTE):
        # FAQ bot: 40 questions, the canned answer to a question 30% of the time; from SHIFT
        # on, an outage: 80% of the users ask question 0 and get its canned answer
        outage = minute >= SHIFT and rng.random() < 0.8
        q = 0 if outage else rng.randrange(40)
        answer = canned[q] if outage or rng.random() < 0.3 else _fresh(rng)
        yield "faq", answer, f"how do I do thing {q}?"
        yield "faq-blind", answer, None
        # a model that from SHIFT on answers half of all (different) questions with one of
        # three canned replies
        text = rng.choice(replies) if minute >= SHIFT and rng.random() < 0.5 else _fresh(rng)
        yield "askbot", text, f"question {minute}-{i}"


def series_by_minute() -> dict[tuple[str, tuple], list[float]]:
    rng = random.Random(7)
    canned = {q: f"faq answer {q}: " + _fresh(rng) for q in range(40)}
    replies = [_fresh(rng) for _ in range(3)]
    agg = Aggregator(CollapseConfig(refresh_seconds=0, window_seconds=3600))
    start = time.time() - 60 * (MINUTES + 1)   # recent: streams idle a day are dropped
    out: dict[tuple[str, tuple], list[float]] = {}
    for minute in range(MINUTES + 1):
        ts = start + 60 * minute
        for service, answer, question in traffic(minute, rng, canned, replies):
            agg.observe(AnswerRecord(answer, service=service, release="r1", question=question,
                                     timestamp=ts))
        for base, stream in unique_streams(agg.snapshot(max_age=0)):
            for metric, labels, value in stream_rows(stream, base):
                if metric.name in COUNTERS:
                    out.setdefault((metric.sample_name, labels), []).append(value)
    return out


def _series(name: str, labels: tuple, values: list[float]) -> dict:
    text = ", ".join(['job="collapse-otel"', 'instance="a:9464"',
                      *(f'{k}="{v}"' for k, v in labels)])
    return {"series": f"{name}{{{text}}}", "values": " ".join(f"{v:g}" for v in values)}


def test_spike_alert_tells_an_faq_surge_from_cross_question_duplicates(tmp_path: Path):
    promtool = require_binary("promtool")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules_file(CFG), sort_keys=False))
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(alerts_file(CFG), sort_keys=False))
    inputs = [_series(name, labels, values) for (name, labels), values in
              sorted(series_by_minute().items())]
    firing = 'ALERTS{alertname="CollapseDuplicateAnswerSpike", alertstate="firing"}'
    test = {
        "rule_files": ["rules.yaml", "alerts.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["collapse-otel.rules", "collapse-otel.alerts"],
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": [
            # before the shift nothing fires
            {"expr": f"count({firing}) or vector(0)", "eval_time": f"{SHIFT - 1}m",
             "exp_samples": [{"labels": "{}", "value": 0}]},
            # after it: the cross-question duplicates fire; the FAQ surge fires only where
            # the questions are unknown
            {"expr": f"count by (service) ({firing})", "eval_time": f"{SHIFT + 15}m",
             "exp_samples": [{"labels": '{service="askbot"}', "value": 1},
                             {"labels": '{service="faq-blind"}', "value": 1}]},
        ]}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = run_watched([promtool, "test", "rules", "test.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
