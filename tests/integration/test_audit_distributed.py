"""The audit over partitions on a real Dask cluster (two worker processes on 127.0.0.1)
equals the single-process audit, figure for figure.

The corpus is cut into many partitions and plants what a merge can get wrong: holdout rows
whose exact copy or near copies sit in later partitions, a near copy repeated in two
partitions (one process indexes only the first), sources that first appear late, the
service's own answers, a gzipped and a CSV version and a version named by its column.
"""

from __future__ import annotations

import gzip
import json

import pytest

from collapse_otel.audit.diversity import DiversityOptions
from collapse_otel.audit.engine import AuditOptions, run_audit
from collapse_otel.audit.inputs import Columns, read_holdout, read_version
from collapse_otel.audit.report import render_json
from tests.support.audit_data import (
    distilled,
    human,
    near_copy,
    rows,
    synthetic,
    write_csv,
    write_jsonl,
)

pytest.importorskip("distributed")

from collapse_otel.audit.distributed import merge, partial, run_audit_distributed  # noqa: E402
from collapse_otel.state.answer_hashes import answer_hash  # noqa: E402


def _one_word(text: str, word: str = "altered") -> str:
    """The text with its middle word changed: a near duplicate (Jaccard about 0.85)."""
    words = text.split()
    words[len(words) // 2] = word
    return " ".join(words)


def _corpus(tmp):
    h, s = human(), synthetic()
    v1 = rows(h[:120], "human") + rows(s[:60], "synthetic")
    v2 = rows(h[120:200], "human") + rows(s[60:150], "synthetic") + rows(distilled(40), "distilled")
    v2[150]["text"] = _one_word(h[250])             # late partitions: near copies of holdout rows
    v2[170]["text"] = v2[150]["text"]               # the same near copy again, later
    v2[30]["text"] = _one_word(h[250], "changed")   # as near, earlier
    v2[60]["text"] = near_copy(h[250])              # less near, earlier
    v2[100]["text"] = h[260]                        # an exact copy of a holdout row
    for r in v2:
        r["version"] = "release-2"
    v3 = rows(h[200:240], "human") + rows(s[150:300], "synthetic") + rows(distilled(30), "llm")
    v3[5]["text"] = _one_word(h[270])
    paths = [write_jsonl(tmp / "v1.jsonl", v1), write_jsonl(tmp / "v2.jsonl", v2)]
    gz = tmp / "v3.jsonl.gz"
    gz.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in v3).encode()))
    paths += [gz, write_csv(tmp / "v4.csv", rows(h[240:250] + s[:50], "human"))]
    holdout = write_jsonl(tmp / "holdout.jsonl",
                          [{"text": t} for t in (h[250], h[260], h[270], h[280], "")])
    own = {answer_hash(t) for t in s[40:70]}
    return paths, holdout, own


OPTIONS = AuditOptions(synthetic_sources=frozenset({"synthetic", "distilled", "llm"}),
                       diversity=DiversityOptions(sample_size=40, min_rows=20, permutations=20),
                       columns=Columns())


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit="512MiB") as cluster, \
            Client(cluster) as c:
        yield c


def _single(paths, holdout, own):
    versions = [read_version(p, OPTIONS.columns) for p in paths]
    return run_audit(versions, OPTIONS, holdout=read_holdout(holdout, "text"), own_hashes=own)


def test_cluster_audit_equals_single_process(tmp_path, client):
    paths, holdout, own = _corpus(tmp_path)
    single = _single(paths, holdout, own)
    assert single.versions[1].contamination.contaminated == 2   # the planted copies count
    assert single.versions[2].contamination.contaminated == 1
    assert single.versions[0].own_answers.rows == 20
    assert single.versions[1].diversity.narrowing is not None
    blocksize = 8192
    assert paths[1].stat().st_size > 8 * blocksize                 # many partitions
    cluster = run_audit_distributed([str(p) for p in paths], OPTIONS,
                                    holdout=read_holdout(holdout, "text"), own_hashes=own,
                                    blocksize=blocksize, split_every=3)
    assert len(client.scheduler_info()["workers"]) == 2
    assert cluster == single
    assert render_json(cluster) == render_json(single)


def test_merge_is_reading_in_order(tmp_path):
    """merge(a, b) is the partial of a's rows then b's, whatever the cut."""
    paths, holdout, own = _corpus(tmp_path)
    from collapse_otel.audit.contamination import sketch
    from collapse_otel.audit.distributed import _Held
    from collapse_otel.signals.minhash import MinHasher
    from collapse_otel.text.hashing import text_hash
    from collapse_otel.text.normalize import clean_text, normalize

    ho = read_holdout(holdout, "text")
    hashes = [text_hash(n) if n else None for n in (normalize(clean_text(t)) for t in ho.texts)]
    held = _Held(hashes, sketch(ho.texts, MinHasher()), frozenset(x for x in hashes if x))
    data = paths[1].read_bytes()
    whole = partial(str(paths[1]), "jsonl", data, OPTIONS, held, frozenset(own))
    lines = data.splitlines(keepends=True)
    for cut in (1, 31, 101, 151, 171, len(lines) - 1):
        a, b = b"".join(lines[:cut]), b"".join(lines[cut:])
        m = merge(partial(str(paths[1]), "jsonl", a, OPTIONS, held, frozenset(own)),
                  partial(str(paths[1]), "jsonl", b, OPTIONS, held, frozenset(own)))
        assert (m.rows, m.lines, m.counts, m.own_hits) == \
            (whole.rows, whole.lines, whole.counts, whole.own_hits)
        for j in range(len(hashes)):
            assert (max(m.near[j], default=None, key=lambda c: c[:3])) == \
                (max(whole.near[j], default=None, key=lambda c: c[:3]))


def test_cli_on_the_cluster_writes_the_same_report(tmp_path, client):
    from collapse_otel.audit.cli import main

    paths, holdout, _own = _corpus(tmp_path)
    common = [*map(str, paths), "--holdout", str(holdout), "--synthetic-sources",
              "synthetic,distilled,llm", "--sample-size", "40", "--min-source-rows", "20",
              "--permutations", "20", "--quiet"]
    assert main([*common, "--json", str(tmp_path / "one.json")]) == 1   # contaminated
    assert main([*common, "--json", str(tmp_path / "many.json"), "--dask",
                 client.scheduler.address, "--blocksize", "1"]) == 1
    one, many = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "many"))
    assert one["versions"][1]["contamination"] and many == one


@pytest.mark.parametrize("bad", [5, 30000])   # in the first partition, in a later one
def test_cli_bad_row_is_named_with_its_line_in_the_file(tmp_path, client, bad):
    from collapse_otel.audit.cli import main

    lines = [json.dumps({"text": f"row {i}", "source": "human"}) for i in range(40000)]
    lines[bad] = "{not json"
    holdout = write_jsonl(tmp_path / "holdout.jsonl", [{"text": "row 7"}])
    path = tmp_path / "v.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 2**20    # the bad row is in a later partition
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([str(path), "--dask", client.scheduler.address, "--blocksize", "1",
                     "--holdout", str(holdout), "--no-diversity", "--quiet"]) == 2
    assert f"{path}:{bad + 1}: not valid JSON" in err.getvalue()


def test_cli_local_cluster(tmp_path):
    """--dask local starts its own worker processes and gives the single process's report."""
    from collapse_otel.audit.cli import main

    paths, holdout, _own = _corpus(tmp_path)
    common = [*map(str, paths[:2]), "--holdout", str(holdout), "--no-diversity", "--quiet"]
    assert main([*common, "--json", str(tmp_path / "one.json")]) == 1
    assert main([*common, "--json", str(tmp_path / "local.json"), "--dask", "local",
                 "--workers", "1"]) == 1
    assert (tmp_path / "local.json").read_text() == (tmp_path / "one.json").read_text()
