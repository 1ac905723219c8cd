"""Every number of a ``collapse-otel compare`` report says what it means: the score is
explained where it appears, a significant change short of its floor says so ("below its floor
of 5%", not "no significant change"), and a value plot's axis never shows a value the signal
cannot take (a negative share)."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from collapse_otel.cli import main
from collapse_otel.compare import fmt, svg
from collapse_otel.compare.engine import NO_CHANGE, SignalResult, _verdict
from collapse_otel.signals.registry import BY_KEY
from tests.support.compare_data import make_files

FLOOR = 0.99   # distinct-2 falls by less on the collapsed candidate: significant, below it


def _result(key: str, baseline, candidate, se, change, p, verdict=None) -> SignalResult:
    s = BY_KEY[key]
    verdict = verdict or _verdict(s, change, p, 0.05, s.floor)
    return SignalResult(s, baseline, candidate, se, se, change, None, None, p, p, "z", s.floor,
                        verdict)


def test_a_significant_change_below_its_floor_says_so() -> None:
    bleu = _result("self_bleu", 0.30, 0.3093, 0.001, 0.031, 0.0004)
    assert bleu.verdict == NO_CHANGE            # the engine's verdict is unchanged ...
    assert fmt.verdict(bleu, 0.05) == "below its floor of 5.0%"   # ... its words are not
    assert "below its floor of 5.0%" in fmt.reason(bleu, 0.05)
    assert "p <0.001 < 0.05" in fmt.reason(bleu, 0.05)
    noise = _result("self_bleu", 0.30, 0.3093, 0.01, 0.031, 0.3)
    assert fmt.verdict(noise, 0.05) == "no significant change"
    assert fmt.reason(noise, 0.05).startswith("not significant")
    dup = _result("exact_duplicate_ratio", 0.01, 0.02, 0.001, 0.01, 0.0001)
    assert fmt.verdict(dup, 0.05) == "below its floor of 2.0 pts"
    shown_only = _result("entity_hill_1", 5.0, 5.1, 0.01, 0.02, 0.0001)
    assert fmt.verdict(shown_only, 0.05) == "(below its floor of 5.0%)"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("explained")
    files = make_files(folder)
    out = {k: folder / f"r.{k}" for k in ("json", "md", "html")}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["compare", str(files["base.jsonl"]), str(files["collapsed.jsonl"]),
              "--permutations", "50", "--floor", f"distinct_2={FLOOR}",
              "--json", str(out["json"]), "--markdown", str(out["md"]),
              "--html", str(out["html"])])
    return {"text": buf.getvalue(), **{k: p.read_text() for k, p in out.items()}}


def test_every_report_explains_the_score_and_the_floor(reports) -> None:
    report = json.loads(reports["json"])
    d2 = next(s for s in report["overall"]["signals"] if s["key"] == "distinct_2")
    assert d2["verdict"] == "no significant change" and d2["p_adjusted"] < 0.05
    assert abs(d2["change"]) < FLOOR
    assert "below its floor of 99.0%" in d2["reason"]
    assert report["glossary"]["score"].startswith("0-100: the share")
    for kind in ("text", "md", "html"):
        body = reports[kind]
        assert "below its floor of 99.0%" in body, kind
        scores = re.findall(r"score \d+/100( \([^)]*\))?", body)
        assert scores and all(s for s in scores), kind   # never a bare "score 27/100"
        assert fmt.SCORE in body.replace("&#x27;", "'"), kind


def _axis_labels(plot: str) -> list[float]:
    """The two axis tick labels of a value plot (y = 45)."""
    found = re.findall(r'<text x="[\d.]+" y="45.0"[^>]*>([^<]*)</text>', plot)
    return [float(v.replace(",", "")) for v in found]


@pytest.mark.parametrize("key", ["exact_duplicate_ratio", "self_bleu", "distinct_4",
                                 "completion_tokens_cv"])
def test_value_plots_never_go_below_zero_for_a_quantity_that_cannot(key) -> None:
    # a share of 0.3% with a standard error of 1%: value - 1.96 se is -1.7%
    r = _result(key, 0.003, 0.004, 0.01, 0.001, 0.5)
    low, high = _axis_labels(svg.values_plot(r))
    assert low == 0 and high > 0.004
    top = _result(key, 0.995, 0.998, 0.01, 0.003, 0.5)
    low, high = _axis_labels(svg.values_plot(top))
    assert high <= (BY_KEY[key].highest or float("inf"))


def test_a_signed_quantity_keeps_its_negative_axis() -> None:
    r = _result("embedding_mean_cosine_similarity", 0.003, 0.004, 0.01, 0.001, 0.5)
    low, _ = _axis_labels(svg.values_plot(r))
    assert low < 0


def test_html_value_axes_in_the_report_are_not_negative(reports) -> None:
    html = reports["html"]
    checked = 0
    for title, plot in re.findall(r'aria-label="([^"]*): baseline and candidate with 95% '
                                  r'intervals">(.*?)</svg>', html):
        signal = next(s for s in BY_KEY.values() if s.title == title.replace("&#x27;", "'"))
        labels = _axis_labels(plot)
        if labels:
            checked += 1
            assert min(labels) >= signal.lowest, (title, labels)
    assert checked > 10


def test_change_plots_stop_at_the_lowest_possible_change() -> None:
    s = BY_KEY["distinct_4"]
    r = SignalResult(s, 0.9, 0.05, 0.01, 0.01, -0.944, -1.06, -0.83, 0.0, 0.0, "z", s.floor,
                     "degraded")
    left = re.findall(r'<text x="6.0" y="45.0"[^>]*>([^<]*)</text>', svg.change_plot(r))
    assert left == ["-100.0%"]      # a share cannot fall by more than all of it
    d = BY_KEY["exact_duplicate_ratio"]
    r = SignalResult(d, 0.02, 0.0, 0.004, 0.001, -0.02, -0.03, -0.01, 0.0, 0.0, "z", d.floor,
                     "improved")
    left = re.findall(r'<text x="6.0" y="45.0"[^>]*>([^<]*)</text>', svg.change_plot(r))
    assert left == ["-2.0 pts"]     # from 2% it can fall by 2 points at most
