"""The online validation (``make validate``'s online table): its table, requirement and saved
verdicts, on known verdicts (tests/e2e/test_online_rolling_deploy.py judges a real one)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.validation_online import (
    CRITICAL,
    OnlineJudged,
    load_online,
    online_failures,
    online_separation,
    online_table,
    save_online,
)

SIGNAL = next(iter(CRITICAL))


def _row(regime: str, k: int, flagged: bool, alerted: bool | None = None, seed: int = 0,
         ratio: float = 0.0) -> OnlineJudged:
    return OnlineJudged("sotu", regime, k, seed, flagged, flagged if alerted is None else alerted,
                        ("lexical_diversity",) if flagged else (),
                        (SIGNAL,) if ratio > 1 else (), {SIGNAL: ratio * CRITICAL[SIGNAL]})


def test_the_table_counts_flagged_seeds_per_generation() -> None:
    rows = [_row("replace", k, True, seed=s) for k in (1, 2) for s in (0, 1)]
    rows += [_row("accumulate", 1, True), _row("accumulate", 2, False)]
    lines = online_table(rows)
    assert lines[1].split() == ["corpus", "regime", "gen1/0", "gen2/1"]
    assert lines[2].split() == ["sotu", "replace", "2/2", "2/2"]
    assert lines[3].split() == ["sotu", "accumulate", "1/1", "0/1"]
    assert online_failures(rows) == []   # the control's first steps are not judged


def test_a_missed_step_a_false_flag_and_a_silent_alert_break_the_requirement() -> None:
    rows = [_row("replace", 1, False), _row("accumulate", 3, True), _row("replace", 2, True, False)]
    broken = online_failures(rows)
    assert broken == [
        "online sotu replace gen1 seed 0: not flagged (no family)",
        "online sotu accumulate gen3 seed 0: flagged (lexical_diversity)",
        "online sotu replace gen2 seed 0: alert silent but verdict 1"]


def test_separation_reads_the_bounds_against_the_critical_margins(tmp_path: Path) -> None:
    rows = [_row("replace", 1, True, ratio=2.5), _row("replace", 2, True, ratio=1.5),
            _row("accumulate", 3, False, ratio=0.25), _row("accumulate", 4, False)]
    assert online_separation(rows)[2].split() == ["sotu", "1.50", "0.25", "1", "0"]
    save_online(rows, tmp_path / "online.jsonl")
    assert load_online(tmp_path / "online.jsonl") == rows
