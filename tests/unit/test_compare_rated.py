"""``collapse-otel compare`` judges the feedback and evaluation columns of answer files as
capture judges the events (thumbs-down and evaluation fail rates, two-proportion tests), and a
file whose ``feedback`` / ``rating`` column means something else is compared without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collapse_otel.cli import main
from tests.support.compare_data import N, pool, tokens, write_csv, write_jsonl


def _rows(texts: list[str], release: str, down_every: int, fail_every: int) -> list[dict]:
    return [{"answer": t, "completion_tokens": tokens(t), "release": release,
             "rating": "down" if i % down_every == 0 else "up",
             "eval_passed": "false" if i % fail_every == 0 else "true",
             "evaluator": "groundedness"}
            for i, t in enumerate(texts)]


def _signals(path: Path) -> dict[str, dict]:
    overall = json.loads(path.read_text())["overall"]
    return {s["key"]: s for s in overall["signals"]}


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], list[str]]:
    p = pool()
    return p[:N], p[N:2 * N]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_rates_are_counted_and_judged(texts, tmp_path, capsys, kind):
    write = write_jsonl if kind == "jsonl" else write_csv
    base = write(tmp_path / f"base.{kind}", _rows(texts[0], "v1", 10, 20))      # 10%, 5%
    cand = write(tmp_path / f"cand.{kind}", _rows(texts[1], "v2", 3, 4))        # 33%, 25%
    report = tmp_path / "r.json"
    assert main(["compare", str(base), str(cand), "--permutations", "50", "--json", str(report)]) in (0, 1)
    out, err = capsys.readouterr()
    assert err == ""
    signals = _signals(report)
    down, fail = signals["thumbs_down_ratio"], signals["evaluation_fail_ratio"]
    assert down["baseline"] == pytest.approx(30 / N) and down["candidate"] == pytest.approx(100 / N)
    assert fail["baseline"] == pytest.approx(15 / N) and fail["candidate"] == pytest.approx(75 / N)
    assert down["test"] == fail["test"] == "two-proportion z"
    assert down["verdict"] == fail["verdict"] == "degraded"
    assert "feedback and evaluation" in json.loads(report.read_text())["overall"]["degraded_families"]
    # the same rates on both sides: no change
    same = write(tmp_path / f"same.{kind}", _rows(texts[1], "v2", 10, 20))
    main(["compare", str(base), str(same), "--permutations", "50", "--json", str(report)])
    capsys.readouterr()
    signals = _signals(report)
    assert signals["thumbs_down_ratio"]["verdict"] != "degraded"
    assert signals["evaluation_fail_ratio"]["verdict"] != "degraded"


def test_a_free_text_feedback_column_is_left_out_with_a_warning(texts, tmp_path, capsys):
    rows = [{"answer": t, "completion_tokens": tokens(t), "release": "v1",
             "feedback": "great, thanks" if i % 2 else "", "rating": str(1 + i % 5)}
            for i, t in enumerate(texts[0])]
    base = write_jsonl(tmp_path / "base.jsonl", rows)
    cand = write_jsonl(tmp_path / "cand.jsonl", [{**r, "release": "v2"} for r in rows])
    report = tmp_path / "r.json"
    code = main(["compare", str(base), str(cand), "--permutations", "50", "--json", str(report)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "warning:" in err and "'rating'" in err and "left out" in err
    assert "great, thanks" not in err + out                # values are never quoted
    signals = _signals(report)
    assert signals["thumbs_down_ratio"]["baseline"] is None
