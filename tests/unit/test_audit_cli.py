"""``collapse-otel audit``: the real command on JSONL and CSV versions, every exit status, the
contamination check, own answers, trend, diversity per source, bad input, no row text out."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from collapse_otel.audit.push import build_registry
from collapse_otel.cli import main
from collapse_otel.records import AnswerRecord
from collapse_otel.state.answer_hashes import AnswerHashWriter
from tests.support.audit_data import (
    SECRET,
    distilled,
    human,
    near_copy,
    rows,
    synthetic,
    three_versions,
    unrelated_holdout,
    write_csv,
    write_jsonl,
)

FAST = ["--permutations", "20"]


def audit(capsys, *args: str | Path) -> tuple[int, str, str]:
    status = main(["audit", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_three_versions_end_to_end(tmp_path: Path, capsys) -> None:
    versions, holdout = three_versions(tmp_path)
    status, out, err = audit(capsys, *versions, "--holdout", holdout, "--json",
                             tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert status == 1 and err == ""
    r = report(tmp_path / "r.json")
    assert r["schema"] == "collapse-otel/audit" and r["exit_status"] == 1
    assert [v["version"] for v in r["versions"]] == ["v1", "v2", "v3"]
    assert [v["synthetic_share"] for v in r["versions"]] == [0.2, 0.4, 0.7]
    assert [v["synthetic_share_change"] for v in r["versions"]] == [None, 0.2, 0.3]
    assert [v["rising_versions"] for v in r["versions"]] == [0, 1, 2]
    assert r["versions"][2]["sources"] == {
        "distilled": {"rows": 20, "share": 0.1}, "human": {"rows": 60, "share": 0.3},
        "synthetic": {"rows": 120, "share": 0.6}}
    assert [v["contamination"]["contaminated"] for v in r["versions"]] == [0, 1, 0]
    (match,) = r["versions"][1]["contamination"]["examples"]
    assert match["holdout_line"] == 1 and match["training_line"] == 11
    assert 0.8 <= match["similarity"] < 1.0
    assert r["holdout"] == {"path": str(holdout), "rows": 61, "contaminated": 1,
                            "share": round(1 / 61, 6)}
    assert r["failures"] == [
        "version v3: synthetic share 70.0% is above the maximum 50.0%",
        "version v2: 1 holdout row has a near duplicate among its training rows"]
    assert "FAIL: version v3" in out and "holdout line 1 ~ training line 11" in out
    assert "| v3 | 200 | 70.0% | +30.0 pts |" in (tmp_path / "r.md").read_text()


def test_exit_0_when_the_latest_version_is_mostly_human(tmp_path: Path, capsys) -> None:
    """An earlier synthetic-dominated version is history: only the latest is judged."""
    h, s = human(), synthetic()
    old = write_jsonl(tmp_path / "2024-01.jsonl", rows(h[:50], "human") + rows(s[:150], "distilled"))
    new = write_jsonl(tmp_path / "2024-02.jsonl", rows(h[50:200], "human") + rows(s[150:200], "self_train"))
    status, out, _ = audit(capsys, old, new, "--holdout",
                           write_jsonl(tmp_path / "h.jsonl", rows(unrelated_holdout(), "x")),
                           "--json", tmp_path / "r.json", *FAST)
    assert status == 0 and out.rstrip().endswith("PASS")
    r = report(tmp_path / "r.json")
    assert [v["version"] for v in r["versions"]] == ["2024-01", "2024-02"]
    assert [v["synthetic_share"] for v in r["versions"]] == [0.75, 0.25]
    assert r["failures"] == [] and r["holdout"]["contaminated"] == 0
    # the same latest version fails under a stricter maximum
    assert audit(capsys, old, new, "--max-synthetic-share", "0.2", "--no-diversity")[0] == 1
    # and passes when exactly at the maximum ("above" fails, not "at")
    assert audit(capsys, new, "--max-synthetic-share", "0.25", "--no-diversity")[0] == 0


def test_synthetic_sources_are_configurable(tmp_path: Path, capsys) -> None:
    h, s = human(), synthetic()
    v = write_jsonl(tmp_path / "v.jsonl", rows(h[:40], "Human") + rows(s[:60], "Vendor_Generated"))
    assert audit(capsys, v, "--no-diversity")[0] == 0   # not a default synthetic source
    status, _, _ = audit(capsys, v, "--no-diversity", "--synthetic-sources",
                         "vendor_generated,synthetic", "--json", tmp_path / "r.json")
    assert status == 1
    r = report(tmp_path / "r.json")
    assert r["versions"][0]["sources"] == {"human": {"rows": 40, "share": 0.4},
                                           "vendor_generated": {"rows": 60, "share": 0.6}}


@pytest.mark.parametrize("delimiter,suffix", [(",", ".csv"), ("\t", ".tsv")])
def test_csv_versions_with_other_columns_and_a_version_column(
        tmp_path: Path, capsys, delimiter: str, suffix: str) -> None:
    h, s = human(), synthetic()
    paths = []
    for i, (nh, ns) in enumerate(((90, 10), (70, 30)), 1):
        recs = [{"id": str(k), "body": t, "origin": src, "ds_version": f"release-{i}"}
                for k, (t, src) in enumerate([(t, "human") for t in h[:nh]] +
                                             [(t, "synthetic") for t in s[:ns]])]
        paths.append(write_csv(tmp_path / f"part{i}{suffix}", recs, delimiter))
    status, _, err = audit(capsys, *paths, "--text-column", "body", "--source-column", "origin",
                           "--version-column", "ds_version", "--json", tmp_path / "r.json",
                           *FAST)
    assert status == 0, err
    r = report(tmp_path / "r.json")
    assert [(v["version"], v["kind"], v["synthetic_share"]) for v in r["versions"]] == [
        ("release-1", suffix[1:], 0.1), ("release-2", suffix[1:], 0.3)]


def test_gzipped_jsonl(tmp_path: Path, capsys) -> None:
    path = tmp_path / "v7.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows(human()[:20], "human")))
    assert audit(capsys, path, "--no-diversity", "--json", tmp_path / "r.json")[0] == 0
    assert report(tmp_path / "r.json")["versions"][0]["version"] == "v7"


def test_contamination_near_copy_found_unrelated_not(tmp_path: Path, capsys) -> None:
    h = human()
    train = write_jsonl(tmp_path / "train.jsonl", rows(h[:150], "human"))
    planted = [near_copy(h[3]), "  " + h[7].upper() + "  ", near_copy(near_copy(h[9]))]
    holdout = write_jsonl(tmp_path / "holdout.jsonl",
                          [{"text": t} for t in unrelated_holdout()[:30]] +
                          [{"text": t} for t in planted] +
                          [{"text": t} for t in unrelated_holdout()[30:]])
    status, _, _ = audit(capsys, train, "--holdout", holdout, "--no-diversity",
                         "--json", tmp_path / "r.json")
    assert status == 1
    c = report(tmp_path / "r.json")["versions"][0]["contamination"]
    assert c["contaminated"] == 3
    got = [(m["holdout_line"], m["training_line"]) for m in c["examples"]]
    assert got == [(31, 4), (32, 8), (33, 10)]
    sims = [m["similarity"] for m in c["examples"]]
    assert 0.8 <= sims[0] < 1.0 and sims[1] == 1.0 and 0.8 <= sims[2] < 1.0
    # a stricter threshold keeps the exact copy only
    audit(capsys, train, "--holdout", holdout, "--no-diversity", "--json", tmp_path / "s.json",
          "--near-duplicate-threshold", "0.99")
    assert report(tmp_path / "s.json")["versions"][0]["contamination"]["contaminated"] == 1


def test_unrelated_holdout_is_clean_and_short_rows_match_exactly_only(
        tmp_path: Path, capsys) -> None:
    train = write_jsonl(tmp_path / "t.jsonl", rows(human(), "human") +
                        rows(["yes please", "", "ok"], "human"))
    holdout = write_jsonl(tmp_path / "h.jsonl", [{"text": t} for t in unrelated_holdout()] +
                          [{"text": "Yes  please"}, {"text": "yes thanks"}, {"text": ""}])
    assert audit(capsys, train, "--holdout", holdout, "--no-diversity", "--json",
                 tmp_path / "r.json")[0] == 1
    c = report(tmp_path / "r.json")["versions"][0]["contamination"]
    assert [(m["holdout_line"], m["similarity"]) for m in c["examples"]] == [(61, 1.0)]


def test_own_answers_share_is_exact(tmp_path: Path, capsys) -> None:
    h, s = human(), synthetic()
    served = s[:40]
    writer = AnswerHashWriter(tmp_path / "hashes", 1 << 20)
    assert writer.write([AnswerRecord(t) for t in served] + [AnswerRecord(None)]) == 40
    writer.close()
    # 25 of the served answers are in the training set, 5 of them re-cased and re-spaced
    own = served[:20] + ["  " + t.upper().replace(" ", "   ") for t in served[20:25]]
    v = write_jsonl(tmp_path / "v.jsonl", rows(h[:75], "human") + rows(own, "self_train"))
    other = tmp_path / "more"
    other.write_text("0123456789abcdef\n\nFEDCBA9876543210\n")
    status, _, _ = audit(capsys, v, "--own-answers", tmp_path / "hashes", "--own-answers",
                         other, "--no-diversity", "--json", tmp_path / "r.json")
    assert status == 0
    r = report(tmp_path / "r.json")
    assert r["own_answers"] == {"hashes": 42}
    assert r["versions"][0]["own_answers"] == {"rows": 25, "share": 0.25}


def test_a_rising_synthetic_share_warns(tmp_path: Path, capsys) -> None:
    h, s = human(), synthetic()
    paths = [write_jsonl(tmp_path / f"r{i}.jsonl", rows(h[:100 - 10 * i], "human") +
                         rows(s[:10 * i], "synthetic")) for i in range(1, 5)]
    status, out, _ = audit(capsys, *paths, "--no-diversity", "--json", tmp_path / "r.json")
    assert status == 0
    assert report(tmp_path / "r.json")["warnings"] == [
        "the synthetic share rose in 3 versions in a row, up to version r4"]
    assert "warning: the synthetic share rose in 3 versions in a row" in out
    audit(capsys, *paths, "--no-diversity", "--rising-versions", "4", "--json", tmp_path / "q.json")
    assert report(tmp_path / "q.json")["warnings"] == []


def test_diversity_per_source_at_equal_size_and_synthetic_narrower(tmp_path: Path,
                                                                    capsys) -> None:
    h = human()
    v = write_jsonl(tmp_path / "v.jsonl", rows(h[:200], "human") +
                    rows(distilled(80), "distilled") + rows(h[200:210], "vendor"))
    audit(capsys, v, "--json", tmp_path / "r.json", "--sample-size", "60")
    d = report(tmp_path / "r.json")["versions"][0]["diversity"]
    assert d["sample_size"] == 60 and d["too_small"] == ["vendor"]
    assert set(d["sources"]) == {"distilled", "human"}
    assert d["sources"]["distilled"]["distinct_2"] < d["sources"]["human"]["distinct_2"]
    n = d["synthetic_vs_human"]
    assert n["sample_size"] == 60 and n["collapse_suspected"]
    assert "lexical diversity" in n["narrower_families"]
    # without enough synthetic rows there is no comparison, and the rest still works
    few = write_jsonl(tmp_path / "few.jsonl", rows(h[:100], "human") +
                      rows(distilled(5), "synthetic"))
    audit(capsys, few, "--json", tmp_path / "f.json")
    d = report(tmp_path / "f.json")["versions"][0]["diversity"]
    assert d["synthetic_vs_human"] is None and d["too_small"] == ["synthetic"]
    assert d["sample_size"] == 100 and list(d["sources"]) == ["human"]


def test_no_row_text_in_any_output(tmp_path: Path, capsys) -> None:
    versions, holdout = three_versions(tmp_path)
    hashes = tmp_path / "hashes"
    AnswerHashWriter(hashes, 1 << 20).write([AnswerRecord(t) for t in synthetic()[:50]])
    status, out, err = audit(capsys, *versions, "--holdout", holdout, "--own-answers", hashes,
                             "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md",
                             *FAST)
    assert status == 1
    from prometheus_client import generate_latest

    from collapse_otel.audit import read_holdout, read_version, run_audit
    from collapse_otel.audit.engine import AuditOptions
    from collapse_otel.audit.inputs import Columns

    result = run_audit([read_version(p, Columns()) for p in versions],
                       AuditOptions(diversity=None), holdout=read_holdout(holdout, "text"))
    exposition = generate_latest(build_registry(result)).decode()
    outputs = [out, err, (tmp_path / "r.json").read_text(), (tmp_path / "r.md").read_text(),
               exposition, hashes.read_text()]
    words = {w for t in human()[:5] + synthetic()[:5] for w in t.split() if len(w) > 9}
    for text in outputs:
        assert SECRET not in text
        assert not [w for w in words if w in text]
    assert 'collapse_audit_holdout_contaminated_rows{dataset="default",version="v2"} 1.0' \
        in exposition


def _bad(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _ok(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "ok.jsonl", rows(human()[:10], "human"))


SECRET_ROW = json.dumps({"text": SECRET, "source": "human"})
BAD_INPUTS = [
    ("v.jsonl", f"{SECRET_ROW}\n{SECRET_ROW}\n{{\"text\": \"{SECRET}\"\n", "v.jsonl:3: not valid JSON"),
    ("v.jsonl", f"{SECRET_ROW}\n{json.dumps({'text': SECRET})}\n", "v.jsonl:2: no 'source' field"),
    ("v.jsonl", f"{json.dumps({'text': 5, 'source': 'human'})}\n", "v.jsonl:1: 'text' must be a string"),
    ("v.jsonl", f"{json.dumps({'source': 'human', 'x': SECRET})}\n", "v.jsonl:1: no 'text' field"),
    ("v.jsonl", f"[\"{SECRET}\"]\n", "v.jsonl:1: expected a JSON object with a 'text' field"),
    ("v.jsonl", f"{json.dumps({'text': 'a', 'source': SECRET + ' ' * 70 + SECRET})}\n",
     "v.jsonl:1: 'source' must be a short name (at most 64 printable characters)"),
    ("v.jsonl", f"{json.dumps({'text': 'a', 'source': ''})}\n", "v.jsonl:1: 'source' is empty"),
    ("v.jsonl", "\n\n", "v.jsonl: no rows"),
    ("v.jsonl", "".join(json.dumps({"text": "a", "source": f"s{i}"}) + "\n" for i in range(40)),
     "v.jsonl:33: more than 32 distinct sources"),
    ("v.jsonl", f"{json.dumps({'text': 'a', 'source': 'h', 'version': '1'})}\n"
                f"{json.dumps({'text': 'a', 'source': 'h', 'version': '2'})}\n",
     "v.jsonl:2: a second 'version' value"),
    ("v.jsonl", f"{json.dumps({'text': 'a', 'source': 'h', 'version': '1'})}\n"
                f"{json.dumps({'text': 'a', 'source': 'h'})}\n",
     "v.jsonl: some rows have a 'version' value and some do not"),
    ("v.csv", f"body,source\n{SECRET},human\n", "v.csv:1: the header has no 'text' column"),
    ("v.csv", f"text,source\n{SECRET},human\n{SECRET},human,extra\n",
     "v.csv:3: expected 2 fields, found 3"),
    ("v.csv", f"text,origin\n{SECRET},human\n", "v.csv:2: no 'source' field"),
    ("v.csv", b"text,source\nabc,human\n\xff\xfe,human\n", "v.csv:3: not valid UTF-8"),
    ("v.bin", "\x00\x01", "v.bin: not a JSONL or CSV file"),
]


@pytest.mark.parametrize("name,body,message", BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_version_files_exit_2_with_file_line_message(tmp_path: Path, capsys, name: str,
                                                         body: str | bytes, message: str) -> None:
    path = tmp_path / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    status, out, err = audit(capsys, _ok(tmp_path), path, "--no-diversity")
    assert status == 2 and out == ""
    assert err.startswith(f"collapse-otel audit: {tmp_path / message.split(':')[0]}")
    assert message.split(":", 1)[1] in err and err.count("\n") == 1
    assert SECRET not in err and "Traceback" not in err


def test_bad_holdout_hashes_and_options_exit_2(tmp_path: Path, capsys) -> None:
    ok = _ok(tmp_path)
    cases = [
        (["--holdout", _bad(tmp_path, "h.jsonl", f'{{"txt": "{SECRET}"}}\n')],
         f"{tmp_path}/h.jsonl:1: no 'text' field"),
        (["--holdout", tmp_path / "missing.jsonl"],
         f"{tmp_path}/missing.jsonl: cannot read: No such file or directory"),
        (["--own-answers", _bad(tmp_path, "hashes", "0123456789abcdef\nnot-a-hash\n")],
         f"{tmp_path}/hashes:2: expected a hash of 16 hex characters"),
        (["--max-synthetic-share", "1.5"], "argument --max-synthetic-share: must be in [0, 1]"),
        (["--permutations", "5"], "permutations must be >= 20"),
        (["--sample-size", "2"], "must be >= 4"),
        (["--synthetic-sources", " , "], "name at least one source"),
        (["--dataset", ""], "--dataset must be a short, non-empty name"),
        ([ok], f"{ok}: version 'ok' again (also {ok})"),
    ]
    for extra, message in cases:
        status, out, err = audit(capsys, ok, *extra)
        assert status == 2 and out == "", extra
        assert err == f"collapse-otel audit: {message}\n" or (
            err.startswith("collapse-otel audit: ") and message in err), (extra, err)
        assert SECRET not in err
    assert audit(capsys, tmp_path / "nope.jsonl")[0] == 2
    assert main(["audit"]) == 2


def test_push_failure_exits_2_after_the_reports(tmp_path: Path, capsys) -> None:
    from tests.support.prometheus_server import free_port

    port = free_port()   # nothing listens there
    status, out, err = audit(capsys, _ok(tmp_path), "--no-diversity", "--pushgateway",
                             f"http://127.0.0.1:{port}", "--json", tmp_path / "r.json")
    assert status == 2 and out.rstrip().endswith("PASS")
    assert err.startswith(f"collapse-otel audit: cannot push to http://127.0.0.1:{port}: ")
    assert report(tmp_path / "r.json")["exit_status"] == 0
