"""The offline comparison over partitions on a real Dask cluster (two worker processes on
127.0.0.1) equals the single-process comparison: the same JSON report, so the same verdict,
every signal value, interval and p-value, per cohort too.

The baseline is cut into many partitions and plants what a merge can get wrong: exact and
near copies of answers in earlier partitions, a question asked again in a later partition
with another answer, a sample smaller than the side (the reservoir replaces across
partitions), feedback and evaluation columns, estimated token counts, cohorts that first
appear late, and an unreadable evaluation column whose warning names its first line. The
candidate is gzipped (one partition) or a CSV, or a JSONL file holding two releases.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from collapse_otel.compare import report_json
from collapse_otel.compare.engine import CompareOptions
from collapse_otel.compare.gate import run_gate
from collapse_otel.compare.inputs import InputError, Selection, read_side
from tests.support.compare_data import pool, templated, write_csv, write_jsonl

pytest.importorskip("distributed")

from collapse_otel.cli import main  # noqa: E402
from collapse_otel.compare.distributed import read_sides_distributed  # noqa: E402

OPTIONS = CompareOptions(sample_size=60, permutations=20)
BLOCK = 4096   # bytes: the baseline becomes dozens of partitions


def _one_word(text: str) -> str:
    words = text.split()
    words[len(words) // 2] = "altered"
    return " ".join(words)


def _baseline(texts: list[str]) -> list[dict]:
    rows = []
    for i, t in enumerate(texts[:160]):
        row = {"answer": t, "release": "v1", "prompt": f"question {i % 40}",
               "cohort": "late" if i >= 120 else ("a" if i % 3 else "b")}
        if i % 4:
            row["completion_tokens"] = len(t.split())
        if i % 5 == 0:
            row["rating"] = "up" if i % 2 else "down"
        if i % 7 == 0:
            row["eval_passed"] = i % 3 != 0
        rows.append(row)
    rows[100]["answer"] = rows[3]["answer"]              # an exact copy, many partitions later
    rows[130]["answer"] = _one_word(rows[20]["answer"])  # a near copy
    rows[140]["answer"] = _one_word(rows[21]["answer"])
    rows[140]["prompt"] = rows[21]["prompt"]             # ... of the same question
    rows[150]["evaluation"] = "maybe"                    # left out, with a warning
    rows[155]["evaluation"] = "perhaps"
    return rows


def _candidate(texts: list[str], release: str = "v2") -> list[dict]:
    rows = [{"answer": t, "release": release, "prompt": f"question {i % 30}",
             "cohort": "a" if i % 2 else "b", "completion_tokens": 40 + i % 3}
            for i, t in enumerate(texts[160:220] + templated(texts[220:280]))]
    for i in range(0, len(rows), 6):
        rows[i]["evaluation"] = "fail" if i % 12 else "pass"
    return rows


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sides")
    texts = pool()
    cand = _candidate(texts)
    gz = tmp / "candidate.jsonl.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in cand).encode()))
    return {"baseline": write_jsonl(tmp / "baseline.jsonl", _baseline(texts)),
            "gz": gz, "csv": write_csv(tmp / "candidate.csv", cand),
            "two_releases": write_jsonl(tmp / "two.jsonl",
                                        _baseline(texts)[:80] + _candidate(texts, "v3"))}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", memory_limit="512MiB") as cluster, \
            Client(cluster) as c:
        yield c


def _report(sides, options: CompareOptions = OPTIONS) -> dict:
    return json.loads(report_json.render(run_gate(*sides, options)))


@pytest.mark.parametrize(("candidate", "selection"), [
    ("gz", Selection(flag="--candidate-release")),
    ("csv", Selection(flag="--candidate-release", cohort_column="cohort")),
    ("two_releases", Selection(release="v3", flag="--candidate-release")),
])
def test_cluster_comparison_equals_single_process(files, client, candidate, selection):
    paths = [str(files["baseline"]), str(files[candidate])]
    selections = [Selection(), selection]
    one = [read_side(p, s) for p, s in zip(paths, selections, strict=True)]
    single = _report(one)
    sides = read_sides_distributed(paths, selections, OPTIONS, blocksize=BLOCK, split_every=3)
    assert _report(sides) == single   # floats as repr: to the last bit
    assert [s.warnings for s in sides] == [s.warnings for s in one]
    assert sides[0].warnings == (f"{paths[0]}:151: 'evaluation' is neither a pass nor a "
                                 "fail label: that column is left out of the comparison",)
    # what the equality covers: judged signals with intervals, cohorts, the planted figures
    judged = [s for s in single["overall"]["signals"] if s["low"] is not None]
    assert len(judged) >= 15
    assert {c["cohort"] for c in single["cohorts"]} >= {"a", "b"}
    assert single["baseline"]["answers"] == 160
    assert single["baseline"]["completion_tokens_estimated"] == 40
    whole = sides[0].whole
    assert whole.exact >= 1 and whole.near >= 1 and whole.cross_question >= 1
    assert whole.feedback is not None and sides[1].whole.evaluations is not None
    # the sample is the reservoir's (rows past the first 60 replaced some), as one process
    assert len(whole.sample) == OPTIONS.sample_size


def test_partitions_and_a_tree(files, client):
    """Dozens of partitions merged three at a time: the baseline really was split."""
    from collapse_otel.compare.distributed import file_blocks

    assert len(file_blocks(str(files["baseline"]), "jsonl", BLOCK)) >= 10


def test_bad_row_in_a_late_partition_names_its_line(files, client, tmp_path):
    lines = files["baseline"].read_text().splitlines(keepends=True)
    lines[130] = '{"answer": 7}\n'
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines))
    paths, selections = [str(bad), str(files["gz"])], [Selection(), Selection()]
    with pytest.raises(InputError) as single:
        read_side(str(bad), Selection())
    with pytest.raises(InputError) as cluster:
        read_sides_distributed(paths, selections, OPTIONS, blocksize=BLOCK)
    assert str(cluster.value) == str(single.value) == f"{bad}:131: 'answer' must be a string"


def test_cli_on_the_cluster_gives_the_same_report_and_status(files, client, tmp_path, capsys):
    common = [str(files["baseline"]), str(files["gz"]), "--sample-size", "60",
              "--permutations", "20", "--quiet"]
    status = main(["compare", *common, "--json", str(tmp_path / "one.json")])
    assert main(["compare", *common, "--json", str(tmp_path / "many.json"), "--dask",
                 client.scheduler.address, "--blocksize", "1"]) == status
    assert json.loads((tmp_path / "many.json").read_text()) == \
        json.loads((tmp_path / "one.json").read_text())
    assert main(["compare", *common, "--dask", "local", "--show-text"]) == 2
    assert "not with --dask" in capsys.readouterr().err


def test_cli_dask_local_starts_its_own_workers(files, tmp_path):
    """--dask local starts worker processes of its own and gives the single process's report."""
    common = [str(files["baseline"]), str(files["csv"]), "--sample-size", "60",
              "--permutations", "20", "--quiet", "--no-cohorts"]
    status = main(["compare", *common, "--json", str(tmp_path / "one.json")])
    assert main(["compare", *common, "--json", str(tmp_path / "local.json"), "--dask", "local",
                 "--workers", "1", "--blocksize", "1"]) == status
    assert json.loads((tmp_path / "local.json").read_text()) == \
        json.loads((tmp_path / "one.json").read_text())
