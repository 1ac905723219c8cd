"""``collapse-otel compare`` reads a ``question`` (else ``prompt``) column, so cross-question
duplicates and distinct questions are judged offline as the aggregator judges them online:
counts equal a batch oracle, and an FAQ bot's repeats of one answer to one question are not
cross-question duplicates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from collapse_otel.cli import main
from collapse_otel.compare.inputs import Selection, read_side
from collapse_otel.compare.sides import window_of_answers
from collapse_otel.text.normalize import normalize
from tests.support.question_streams import collapsed_stream, faq_stream, oracle

N = 600


def _rows(pairs: list[tuple[str, str | None]], column: str = "question") -> list[dict]:
    """Every tenth answer without a question (it counts as a duplicate, never as a
    cross-question one); a third of the rest give it as ``prompt`` when ``column`` is mixed."""
    rows = []
    for i, (answer, question) in enumerate(pairs):
        row: dict = {"answer": answer}
        if i % 10 != 9:
            name = column if column != "mixed" else ("prompt" if i % 3 == 0 else "question")
            row[name] = question
        rows.append(row)
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".csv":
        fields = sorted({k for r in rows for k in r})
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pairs(rows: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["answer"], r.get("question") or r.get("prompt") or None) for r in rows]


def _distinct_share(questions: list[str]) -> float:
    return len({normalize(q) for q in questions}) / len(questions)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("make", [faq_stream, collapsed_stream])
def test_window_of_a_question_column_equals_the_batch_oracle(tmp_path, suffix, make) -> None:
    rows = _rows(make(N), "mixed")
    side = read_side(_write(tmp_path / f"a{suffix}", rows), Selection())
    w = window_of_answers(side.records["default"])
    exact, cross, known = oracle(_pairs(rows))
    assert w.near == 0   # random fresh answers: every duplicate here is exact
    assert (w.exact, w.cross_question, w.with_question) == (exact, cross, known)
    asked = [q for _, q in _pairs(rows) if q]
    assert len(w.question_hashes) == len(asked)
    assert len(set(w.question_hashes.tolist())) == len({normalize(q) for q in asked})


def _compare(capsys, tmp_path: Path, baseline: Path, candidate: Path) -> dict:
    out = tmp_path / "r.json"
    code = main(["compare", str(baseline), str(candidate), "--json", str(out),
                 "--permutations", "50"])
    capsys.readouterr()
    assert code in (0, 1)
    report = json.loads(out.read_text())
    return {s["key"]: s for s in report["overall"]["signals"]}


def test_faq_repeats_are_not_cross_question_duplicates_offline(tmp_path, capsys) -> None:
    faq_a = _rows(faq_stream(N, seed=0))
    faq_b = _rows(faq_stream(N, seed=4))
    collapsed = _rows(collapsed_stream(N))
    a = _write(tmp_path / "faq_a.jsonl", faq_a)
    b = _write(tmp_path / "faq_b.jsonl", faq_b)
    c = _write(tmp_path / "collapsed.jsonl", collapsed)

    same = _compare(capsys, tmp_path, a, b)
    cross = same["cross_question_duplicate_ratio"]
    # an FAQ bot repeats itself (exact duplicates) but hardly across questions: only where
    # the earlier answer came without its question
    for rows, value in ((faq_a, cross["baseline"]), (faq_b, cross["candidate"])):
        _, cross_n, known = oracle(_pairs(rows))
        assert value == pytest.approx(cross_n / known)
        assert value < 0.01
    assert cross["verdict"] == "no significant change"
    assert same["exact_duplicate_ratio"]["baseline"] > 0.4
    distinct = same["question_distinct_ratio"]
    questions = min(len([r for r in faq_a if "question" in r]),
                    len([r for r in faq_b if "question" in r]))
    assert distinct["baseline"] == pytest.approx(_distinct_share(
        [r["question"] for r in faq_a if "question" in r][:questions]))
    assert distinct["candidate"] == pytest.approx(_distinct_share(
        [r["question"] for r in faq_b if "question" in r][:questions]))

    worse = _compare(capsys, tmp_path, a, c)["cross_question_duplicate_ratio"]
    _, cross_c, known_c = oracle(_pairs(collapsed))
    assert worse["candidate"] == pytest.approx(cross_c / known_c)
    assert worse["verdict"] == "degraded"


def test_without_questions_both_stay_not_enough_data(tmp_path, capsys) -> None:
    a = _write(tmp_path / "a.jsonl", [{"answer": x} for x, _ in faq_stream(200)])
    b = _write(tmp_path / "b.jsonl", [{"answer": x} for x, _ in collapsed_stream(200)])
    signals = _compare(capsys, tmp_path, a, b)
    for key in ("cross_question_duplicate_ratio", "question_distinct_ratio"):
        assert signals[key]["verdict"] == "not enough data"
