"""The reports of ``collapse-otel compare`` as CI reads them: the JSON schema's keys are stable,
numbers are formatted per signal kind, the progress bar shows only when it should."""

from __future__ import annotations

import io
import json

import pytest

from collapse_otel.cli import main
from collapse_otel.compare import fmt
from collapse_otel.compare.engine import SignalResult
from collapse_otel.compare.progress import THRESHOLD, ProgressBar
from collapse_otel.compare.report_json import SCHEMA, SCHEMA_VERSION
from collapse_otel.signals.registry import BY_KEY, SIGNALS
from collapse_otel.version import __version__
from tests.support.compare_data import make_files

TOP = {"schema", "schema_version", "tool", "glossary", "gate", "options", "baseline", "candidate",
       "overall", "cohorts", "cohorts_only_in_baseline", "cohorts_only_in_candidate",
       "patterns", "phrases"}
SIDE = {"path", "kind", "name", "answers", "cohorts", "completion_tokens_estimated"}
SECTION = {"cohort", "note", "verdict", "collapse_suspected", "degraded_families",
           "critical_signals", "score", "answers", "sample_size", "families", "signals", "tail_coverage", "lengths"}
SIGNAL = {"key", "title", "family", "collapse_direction", "in_verdict", "note", "statistic",
          "test", "change_kind", "baseline", "candidate", "baseline_se", "candidate_se",
          "change", "low", "high", "p_value", "p_adjusted", "floor", "critical", "verdict",
          "reason"}
PATTERN = {"improved_cohort", "improved_families", "degraded_cohort", "degraded_families",
           "message"}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("schema")
    files = make_files(folder)
    out = folder / "r.json"
    main(["compare", str(files["cohorts_base.jsonl"]), str(files["cohorts_cand.jsonl"]),
          "--permutations", "50", "--quiet", "--json", str(out)])
    return json.loads(out.read_text())


def test_json_schema_keys_are_stable(report):
    """CI parses these keys: renaming or dropping one is a breaking change (bump the
    schema version and say so in docs/compare.md and the CHANGELOG)."""
    assert set(report) == TOP
    assert (report["schema"], report["schema_version"]) == (SCHEMA, SCHEMA_VERSION) == \
        ("collapse-otel/compare", 1)
    assert report["tool"] == {"name": "collapse-otel", "version": __version__}
    assert set(report["gate"]) == {"exit_status", "fail_on", "failed"}
    assert set(report["options"]) == {"alpha", "min_families", "correction", "permutations",
                                      "seed", "sample_size", "floors"}
    assert set(report["baseline"]) == set(report["candidate"]) == SIDE
    assert report["baseline"]["cohorts"] == {"human_holdout": 200, "legacy": 50,
                                             "synthetic": 100}
    for section in [report["overall"], *report["cohorts"]]:
        assert set(section) == SECTION
        assert [s["key"] for s in section["signals"]] == [s.key for s in SIGNALS]
        assert all(set(s) == SIGNAL for s in section["signals"])
        assert all(set(f) == {"family", "verdict", "degraded", "improved"}
                   for f in section["families"])
        assert set(section["lengths"]) == {"bounds", "baseline", "candidate"}
        assert len(section["lengths"]["baseline"]) == len(section["lengths"]["bounds"]) + 1
    assert report["overall"]["cohort"] is None
    assert all(set(p) == PATTERN for p in report["patterns"]) and report["patterns"]
    assert report["phrases"] is None


def test_json_change_kinds_follow_the_registry(report):
    for s in report["overall"]["signals"]:
        if s["baseline"]:   # a baseline of 0 makes the engine fall back to a difference
            assert s["change_kind"] == BY_KEY[s["key"]].change
        if s["change"] is not None and s["low"] is not None:
            assert s["low"] <= s["change"] <= s["high"]


def _result(key: str, baseline, change, low=None, high=None, p=None) -> SignalResult:
    s = BY_KEY[key]
    return SignalResult(s, baseline, None, None, None, change, low, high, p, p, "", s.floor,
                        "degraded")


def test_number_formats():
    rel = _result("distinct_2", 0.5, -0.2534, -0.3, -0.2, 0.0004)
    assert (fmt.change(rel), fmt.interval(rel), fmt.p_value(rel)) == \
        ("-25.3%", "[-30.0, -20.0]%", "<0.001")
    ab = _result("exact_duplicate_ratio", 0.01, 0.535, 0.49, 0.58, 0.0123)
    assert (fmt.change(ab), fmt.interval(ab), fmt.p_value(ab)) == \
        ("+53.5 pts", "[+49.0, +58.0] pts", "0.012")
    zero = _result("entities_per_answer", 0.0, 1.5)    # relative signal, baseline 0
    assert (fmt.change_kind(zero), fmt.change(zero)) == ("absolute", "+1.5")
    for bad in (None, float("nan"), float("inf"), float("-inf")):
        assert fmt.value(bad) == fmt.DASH
        assert fmt.change(_result("distinct_2", 0.5, bad)) == fmt.DASH
    assert [fmt.value(v) for v in (0, 1234.5, 64.96, 0.13494, 0.00001)] == \
        ["0", "1,234", "64.96", "0.1349", "1.00e-05"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_long_inputs_on_a_terminal_or_when_forced():
    for stream, total, force, shown in [
            (io.StringIO(), THRESHOLD * 2, False, False),   # not a terminal
            (_Tty(), THRESHOLD, False, False),              # short input
            (_Tty(), THRESHOLD + 1, False, True),
            (io.StringIO(), 10, True, True)]:               # --progress
        tick = ProgressBar(stream, force=force, interval=0)("analysing baseline", total)
        tick(total // 2)
        tick(total - total // 2)
        text = stream.getvalue()
        assert bool(text) == shown, (total, force)
        if shown:
            assert text.endswith(f"{total:,}/{total:,} answers 100%\n")
    quiet = io.StringIO()
    ProgressBar(quiet, force=True, enabled=False)("x", 5)(5)
    assert quiet.getvalue() == ""
