"""``collapse-otel compare`` end to end through the real CLI entry: JSONL, CSV and state inputs,
every report, the exit codes, cohorts and the improved/degraded pattern, and answer text kept
out of every report unless asked for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from collapse_otel.cli import main
from tests.support.compare_data import SECRET, make_files

FAST = ["--permutations", "50"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("compare"))


def run(capsys, *args: object) -> tuple[int, str, str]:
    code = main(["compare", *map(str, args), *FAST])
    out, err = capsys.readouterr()
    return code, out, err


def reports(tmp_path: Path, name: str = "r") -> tuple[list[str], dict[str, Path]]:
    paths = {k: tmp_path / f"{name}.{k}" for k in ("json", "md", "html")}
    return ["--json", paths["json"], "--markdown", paths["md"], "--html", paths["html"]], paths


@pytest.mark.parametrize("kind", ["jsonl", "csv", "state"])
def test_collapsed_candidate_fails_the_gate_with_every_report(files, tmp_path, capsys, kind):
    if kind == "state":
        sides = [files["releases.state"], files["releases.state"],
                 "--baseline-release", "v4", "--candidate-release", "v5"]
    else:
        sides = [files[f"base.{kind}"], files[f"collapsed.{kind}"]]
    flags, paths = reports(tmp_path)
    code, out, err = run(capsys, *sides, *flags)
    assert (code, err) == (1, "")
    data = json.loads(paths["json"].read_text())
    assert data["overall"]["verdict"] == "collapse suspected"
    assert "lexical diversity" in data["overall"]["degraded_families"]
    assert data["gate"] == {"exit_status": 1, "fail_on": "collapse", "failed": ["all answers"]}
    assert (data["baseline"]["name"], data["candidate"]["name"]) == ("v4", "v5")
    assert data["baseline"]["kind"] == kind
    assert "collapse suspected" in out and "FAIL (exit 1" in out
    for line in ("signal", "Distinct 2-grams", "Embedding Vendi score"):
        assert line in out
    md = paths["md"].read_text()
    assert md.startswith("## ❌ collapse-otel compare: gate failed")
    assert "| Distinct 2-grams | lexical diversity |" in md
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('<svg class="plot"') >= 40


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_same_distribution_candidate_passes(files, capsys, kind):
    code, out, err = run(capsys, files[f"base.{kind}"], files[f"same.{kind}"])
    assert (code, err) == (0, "")
    assert "all answers: 300 vs 300 answers: pass; 0 of 5 families degraded" in out
    assert "gate (--fail-on collapse): PASS (exit 0" in out


def test_state_file_release_choice(files, capsys):
    state = files["releases.state"]
    code, out, err = run(capsys, state, state, "--baseline-release", "v4")
    assert (code, out) == (2, "")
    assert err == (f"collapse-otel compare: {state}: the state file holds several releases "
                   "(v4, v5, v6): choose one with --candidate-release\n")
    code, out, err = run(capsys, state, state, "--baseline-release", "v4",
                         "--candidate-release", "v6")
    assert (code, err) == (0, "")
    code, _, err = run(capsys, state, state, "--baseline-release", "v9",
                       "--candidate-release", "v6")
    assert code == 2 and "no release 'v9' in the state file (releases here: v4, v5, v6)" in err
    code, _, err = run(capsys, state, files["same.jsonl"], "--baseline-release", "v4",
                       "--service", "other")
    assert code == 2 and "no service 'other' in the state file (services here: faq-bot)" in err


def test_fail_on_degraded_catches_one_family(files, capsys):
    """A candidate whose answer lengths stopped varying degrades one family: not collapse
    (exit 0 by default), but a failure with --fail-on degraded."""
    code, out, _ = run(capsys, files["base.jsonl"], files["flat.jsonl"])
    assert code == 0
    assert "all answers: 300 vs 300 answers: degraded; 1 of 5 families degraded " \
           "(length and variance)" in out
    code, out, _ = run(capsys, files["base.jsonl"], files["flat.jsonl"], "--fail-on", "degraded")
    assert code == 1 and "FAIL (exit 1; failed: all answers)" in out
    code, _, _ = run(capsys, files["base.jsonl"], files["flat.jsonl"], "--min-families", "1")
    assert code == 1


@pytest.mark.parametrize("kind", ["jsonl", "state"])
def test_cohorts_pattern_synthetic_improved_human_holdout_degraded(files, tmp_path, capsys,
                                                                    kind):
    if kind == "state":
        sides = [files["cohorts.state"], files["cohorts.state"],
                 "--baseline-release", "v4", "--candidate-release", "v5"]
    else:
        sides = [files["cohorts_base.jsonl"], files["cohorts_cand.jsonl"]]
    flags, paths = reports(tmp_path)
    code, out, _ = run(capsys, *sides, *flags)
    data = json.loads(paths["json"].read_text())
    by_cohort = {c["cohort"]: c for c in data["cohorts"]}
    assert sorted(by_cohort) == ["human_holdout", "synthetic"]
    assert data["cohorts_only_in_baseline"] == ["legacy"]
    assert by_cohort["human_holdout"]["verdict"] == "collapse suspected"
    assert by_cohort["synthetic"]["verdict"] == "pass"
    assert "lexical diversity" in [f["family"] for f in by_cohort["synthetic"]["families"]
                                   if f["verdict"] == "improved"]
    [pattern] = data["patterns"]
    assert (pattern["improved_cohort"], pattern["degraded_cohort"]) == \
        ("synthetic", "human_holdout")
    assert "lexical diversity" in pattern["degraded_families"]
    # the gate follows every cohort: human_holdout collapsed, whatever all answers say
    assert code == 1 and data["gate"]["failed"][-1] == "cohort human_holdout"
    assert "PATTERN: cohort 'synthetic' improved" in out
    assert "cohort 'synthetic' improved" in paths["md"].read_text()
    html = paths["html"].read_text()
    assert "<h2>Cohort human_holdout</h2>" in html and "Pattern:" in html


def test_no_cohorts_compares_all_answers_only(files, capsys, tmp_path):
    flags, paths = reports(tmp_path)
    run(capsys, files["cohorts_base.jsonl"], files["cohorts_cand.jsonl"], "--no-cohorts", *flags)
    data = json.loads(paths["json"].read_text())
    assert data["cohorts"] == [] and data["patterns"] == []


def test_candidate_cohorts_against_a_baseline_without_cohorts(files, capsys, tmp_path):
    flags, paths = reports(tmp_path)
    code, _, _ = run(capsys, files["base.jsonl"], files["cohorts_cand.jsonl"], *flags)
    data = json.loads(paths["json"].read_text())
    assert [(c["cohort"], c["note"]) for c in data["cohorts"]] == [
        ("human_holdout", "against all baseline answers"),
        ("synthetic", "against all baseline answers")]
    assert data["cohorts"][0]["verdict"] == "collapse suspected" and code == 1


def _bad(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


BAD = [
    ("bad.jsonl", '{"answer": "a"}\n{"answer": "b",\n', 2, "not valid JSON"),
    ("tokens.jsonl", '{"answer": "a"}\n\n{"answer": "b", "completion_tokens": "many"}\n', 3,
     "'completion_tokens' must be a non-negative integer"),
    ("negative.jsonl", '{"answer": "a", "prompt_tokens": -1}\n', 1,
     "'prompt_tokens' must be a non-negative integer"),
    ("noanswer.jsonl", '{"answer": "a"}\n{"text": "b"}\n', 2, "no 'answer' field"),
    ("notobject.jsonl", '{"answer": "a"}\n["b"]\n', 2, "expected a JSON object"),
    ("number.jsonl", '{"answer": 3}\n', 1, "'answer' must be a string"),
    ("contexts.jsonl", '{"answer": "a", "context_ids": {"x": 1}}\n', 1,
     "'context_ids' must be a list of strings"),
    ("nocolumn.csv", "text,cohort\nhello,a\n", 1, "the header has no 'answer' column"),
    ("tokens.csv", 'answer,completion_tokens\n"two\nlines",3\nok,x\n', 4,
     "'completion_tokens' must be a non-negative integer"),
    ("fields.csv", "answer,cohort\nok,a\nextra,a,b\n", 3, "expected 2 fields, found 3"),
    ("latin1.jsonl", b'{"answer": "a"}\n{"answer": "caf\xe9"}\n', 2, "not valid UTF-8"),
    ("empty.jsonl", "", 0, "no answers"),
    ("blank.csv", "answer\n", 0, "no answers"),
    ("binary.dat", b"\x00\x01\x02 not text", 0, "not a JSONL, CSV or collapse-otel state file"),
    ("state.bin", b"COLSTATE\x00\x02\x00\x00\x00\x00\x00\x00broken", 0, "not a valid state file"),
]


@pytest.mark.parametrize(("name", "content", "line", "message"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_input_is_exit_2_with_file_and_line(files, tmp_path, capsys, name, content, line,
                                                message):
    path = _bad(tmp_path, name, content)
    code, out, err = run(capsys, files["base.jsonl"], path)
    where = f"{path}:{line}" if line else f"{path}"
    assert (code, out) == (2, "")
    assert err.startswith(f"collapse-otel compare: {where}: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_messages_never_quote_the_line(files, tmp_path, capsys):
    path = _bad(tmp_path, "leak.jsonl", f'{{"answer": "{SECRET}", "completion_tokens": '
                                        f'"{SECRET}"}}\n')
    code, _, err = run(capsys, path, files["base.jsonl"])
    assert code == 2 and SECRET not in err


def test_missing_file_and_bad_options(files, tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "nope.jsonl", files["base.jsonl"])
    assert code == 2 and err == f"collapse-otel compare: {tmp_path / 'nope.jsonl'}: cannot " \
                                "read: No such file or directory\n"
    code, _, err = run(capsys, files["base.jsonl"], files["same.jsonl"], "--floor", "nope=1")
    assert code == 2 and err.startswith("collapse-otel compare: argument --floor:")
    code, _, err = run(capsys, files["base.jsonl"], files["same.jsonl"], "--alpha", "2")
    assert (code, err) == (2, "collapse-otel compare: alpha must be in (0, 1)\n")


def test_answer_text_only_with_show_text(files, tmp_path, capsys):
    secret = SECRET.split("-")[1].lower()    # phrases are lower-cased word n-grams
    for kind in ("jsonl", "state"):
        sides = ([files["base.jsonl"], files["collapsed.jsonl"]] if kind == "jsonl" else
                 [files["releases.state"], files["releases.state"], "--baseline-release", "v4",
                  "--candidate-release", "v5"])
        flags, paths = reports(tmp_path, "plain")
        _, out, err = run(capsys, *sides, *flags)
        texts = [out, err] + [p.read_text() for p in paths.values()]
        assert all(secret not in t.lower() for t in texts)
        assert json.loads(paths["json"].read_text())["phrases"] is None
        flags, paths = reports(tmp_path, "shown")
        _, out, _ = run(capsys, *sides, *flags, "--show-text")
        for text in [out] + [p.read_text() for p in paths.values()]:
            assert secret in text.lower(), kind
        phrases = json.loads(paths["json"].read_text())["phrases"]
        assert phrases and all(p["baseline"] <= 1 < p["candidate"] for p in phrases)


def test_floor_option_changes_the_verdict(files, capsys, tmp_path):
    """A floor above every change makes a signal 'no significant change'."""
    flags, paths = reports(tmp_path)
    run(capsys, files["base.jsonl"], files["flat.jsonl"], "--floor", "completion_tokens_cv=5",
        *flags)
    data = json.loads(paths["json"].read_text())
    cv = next(s for s in data["overall"]["signals"] if s["key"] == "completion_tokens_cv")
    assert (cv["floor"], cv["verdict"]) == (5.0, "no significant change")
    assert data["options"]["floors"] == {"completion_tokens_cv": 5.0}


def test_reports_print_no_nan_or_inf(files, tmp_path, capsys):
    """Retrieval has no data here (no context ids): every report says "—", never nan/inf."""
    flags, paths = reports(tmp_path)
    _, out, _ = run(capsys, files["base.jsonl"], files["collapsed.jsonl"], *flags)
    for text in [out] + [p.read_text() for p in paths.values()]:
        assert not re.search(r"\b(nan|inf|infinity)\b", text, re.IGNORECASE)
    assert "Distinct retrieved contexts" in out and "—" in out
    retrieval = [s for s in json.loads(paths["json"].read_text())["overall"]["signals"]
                 if s["family"] == "retrieval"]
    assert all(s["baseline"] is None and s["change"] is None for s in retrieval)


def test_markdown_appends_to_the_github_step_summary(files, tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run(capsys, files["base.jsonl"], files["same.jsonl"], "--markdown", summary, "--quiet")
    text = summary.read_text()
    assert text.startswith("# earlier step\n## ✅ collapse-otel compare: gate passed")


def test_console_script_with_progress(files, tmp_path):
    script = Path(sys.executable).with_name("collapse-otel")
    proc = subprocess.run(
        [str(script), "compare", str(files["base.csv"]), str(files["collapsed.csv"]),
         "--progress", "--json", str(tmp_path / "r.json"), *FAST],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 1, proc.stderr
    assert "collapse suspected" in proc.stdout
    assert "analysing baseline [" in proc.stderr and "300/300 answers 100%" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["gate"]["exit_status"] == 1


def test_one_cohort_of_files_and_state_files(files, capsys, tmp_path):
    flags, paths = reports(tmp_path)
    code, _, _ = run(capsys, files["cohorts_base.jsonl"], files["cohorts_cand.jsonl"],
                     "--cohort", "human_holdout", *flags)
    data = json.loads(paths["json"].read_text())
    assert (code, data["overall"]["answers"], data["cohorts"]) == \
        (1, {"baseline": 200, "candidate": 200}, [])
    state = files["cohorts.state"]
    code, _, _ = run(capsys, state, state, "--baseline-release", "v4", "--candidate-release",
                     "v5", "--cohort", "synthetic")
    assert code == 0
    code, _, err = run(capsys, state, state, "--baseline-release", "v4", "--candidate-release",
                       "v5", "--cohort", "legacy")
    assert code == 2 and "release 'v5' has no cohort 'legacy' (cohorts here: human_holdout, " \
                         "synthetic)" in err


def test_critical_option_changes_a_margin(files, capsys, tmp_path):
    """--critical sets or removes one signal's margin; the JSON report gives each signal's."""
    code, _, err = run(capsys, files["base.jsonl"], files["same.jsonl"], "--critical",
                       "distinct_2=-1")
    assert code == 2 and "a critical margin must be >= 0" in err
    flags, paths = reports(tmp_path)
    run(capsys, files["base.jsonl"], files["collapsed.jsonl"], "--critical", "distinct_2=none",
        "--critical", "self_bleu=50", *flags)
    overall = json.loads(paths["json"].read_text())["overall"]
    margins = {s["key"]: s["critical"] for s in overall["signals"]}
    assert (margins["distinct_2"], margins["self_bleu"], margins["distinct_3"]) == \
        (None, 50.0, 0.05)
    assert margins["completion_tokens_cv"] is None
    assert {"distinct_2", "self_bleu"}.isdisjoint(overall["critical_signals"])
