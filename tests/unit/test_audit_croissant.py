"""``collapse-otel audit --croissant``: a Croissant 1.1 description of a JSONL or CSV file (or a
file set), its declared ``rai:hasSyntheticData`` against the rows, the description written back
beside it (loaded by the reference ``mlcroissant``, records included), refusals with one line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import mlcroissant as mlc
import pytest
from scipy.stats import binomtest

from collapse_otel.audit.croissant_out import output_path
from collapse_otel.audit.engine import wilson
from collapse_otel.cli import main
from tests.support.audit_data import (
    SECRET,
    distilled,
    human,
    rows,
    synthetic,
    write_csv,
    write_jsonl,
)
from tests.support.data import DATA

FAST = ["--permutations", "20", "--sample-size", "60"]

# The standard Croissant 1.1 context (the vocabulary every published description carries).
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "prov": "http://www.w3.org/ns/prov#",
    "citeAs": "cr:citeAs", "column": "cr:column", "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
    "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath",
    "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "samplingRate": "cr:samplingRate",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform", "equivalentProperty": "cr:equivalentProperty",
    "annotation": "cr:annotation",
}
FORMATS = {".jsonl": "application/jsonlines", ".csv": "text/csv"}


def _field(name: str, ref: dict, column: str, **extra) -> dict:
    return {"@type": "cr:Field", "@id": f"posts/{name}", "name": name, "dataType": "sc:Text",
            "source": {**ref, "extract": {"column": column}}, **extra}


def describe(path: Path, data: Path | str, declared: bool | None, *, source_field: bool = True,
             fields: list[dict] | None = None) -> Path:
    """A Croissant 1.1 description of one data file (a FileObject with its sha256) whose
    record set has a ``text`` and a ``source`` field."""
    local = isinstance(data, Path)
    file_object = {
        "@type": "cr:FileObject", "@id": "posts-file", "name": "posts-file",
        "contentUrl": data.name if local else data,
        "encodingFormat": FORMATS.get(Path(str(data)).suffix, "application/jsonlines"),
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest() if local else "0" * 64}
    ref = {"fileObject": {"@id": "posts-file"}}
    if fields is None:
        fields = [_field("text", ref, "text")]
        if source_field:
            fields.append(_field("source", ref, "source",
                                 description="who wrote the post: human or a model"))
    doc = {
        "@context": CONTEXT, "@type": "sc:Dataset", "name": "forum_posts",
        "description": "Support forum posts, some of them written by a model.",
        "conformsTo": "http://mlcommons.org/croissant/1.1",
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "url": "https://example.com/forum-posts", "version": "2.1.0",
        "datePublished": "2026-02-01", "citeAs": "Forum posts, 2026",
        "creator": {"@type": "sc:Organization", "name": "Example support team"},
        "rai:dataLimitations": "English only.",
        "distribution": [file_object],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "posts", "name": "posts",
                       "field": fields}],
    }
    if declared is not None:
        doc["rai:hasSyntheticData"] = declared
    path.write_text(json.dumps(doc, indent=2))
    return path


def audit(capsys, *args: str | Path) -> tuple[int, str, str]:
    status = main(["audit", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def corpus(n_human: int, n_synthetic: int, n_distilled: int = 0) -> list[dict]:
    return rows(human()[:n_human], "human") + rows(synthetic()[:n_synthetic], "synthetic") + \
        rows(distilled(n_distilled), "distilled")


def _records(path: Path) -> list[dict]:
    """The record set as the reference implementation reads it."""
    ds = mlc.Dataset(jsonld=str(path))
    return list(ds.records("posts"))


def test_declared_and_measured_agree_jsonl_and_the_written_file_is_valid_croissant(
        tmp_path, capsys):
    data = write_jsonl(tmp_path / "posts.jsonl", corpus(150, 80, 20))   # 100 of 250 synthetic
    card = describe(tmp_path / "card.json", data, True)
    before = card.read_bytes()
    status, out, err = audit(capsys, "--croissant", card, "--json", tmp_path / "r.json", *FAST)
    assert (status, err) == (0, ""), err
    lo, hi = wilson(100, 250)
    assert (f"2.1.0: rai:hasSyntheticData true agrees: synthetic share 40.0% (95% interval "
            f"{lo:.1%} to {hi:.1%})") in out
    assert card.read_bytes() == before                     # the input is never modified
    written = output_path(card)
    assert written == tmp_path / "card.collapse-audit.json"
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o644   # no row text in it
    text = written.read_text()
    assert SECRET not in text and SECRET not in out
    doc = json.loads(text)
    assert doc["rai:hasSyntheticData"] is True
    assert doc["collapseAudit:records"] == 250 and doc["collapseAudit:syntheticRecords"] == 100
    assert doc["collapseAudit:declarationAgrees"] is True
    assert doc["rai:dataLimitations"][0] == "English only."     # the publisher's is kept
    assert "agrees with the declared rai:hasSyntheticData" in doc["rai:dataLimitations"][1]
    report = json.loads((tmp_path / "r.json").read_text())["versions"][0]
    assert report["version"] == "2.1.0" and report["declaration_agrees"] is True
    assert report["synthetic_share"] == pytest.approx(0.4)

    # The reference implementation loads both files without an issue, and its records of
    # the written description give the counts the audit wrote (an independent reader).
    issues = [mlc.Dataset(jsonld=str(path)).metadata.ctx.issues for path in (card, written)]
    assert not issues[0].errors and not issues[1].errors
    assert issues[1].warnings == issues[0].warnings     # the audit adds no warning either
    recs = _records(written)
    sources = [r["posts/source"].decode() for r in recs]
    assert len(recs) == doc["collapseAudit:records"]
    assert sum(s in ("synthetic", "distilled") for s in sources) == \
        doc["collapseAudit:syntheticRecords"]
    assert mlc.Dataset(jsonld=str(written)).metadata.data_limitations[1].startswith(
        "collapse-otel")


def test_declared_no_synthetic_disagrees_csv(tmp_path, capsys):
    data = write_csv(tmp_path / "posts.csv", corpus(180, 20))
    card = describe(tmp_path / "card.jsonld", data, False)
    before = card.read_bytes()
    status, out, err = audit(capsys, "--croissant", card, "--json", tmp_path / "r.json",
                             "--no-diversity")
    assert status == 1 and err == ""
    lo, hi = wilson(20, 200)
    line = next(x for x in out.splitlines() if x.startswith("FAIL"))
    assert "declares no synthetic data (rai:hasSyntheticData false)" in line
    assert "20 of its 200 rows come from synthetic sources" in line
    assert f"95% interval {lo:.1%} to {hi:.1%}" in line
    assert card.read_bytes() == before
    doc = json.loads((tmp_path / "card.collapse-audit.json").read_text())
    assert doc["rai:hasSyntheticData"] is True
    assert doc["collapseAudit:declaredSyntheticData"] is False
    assert doc["collapseAudit:declarationAgrees"] is False
    assert "contradicts" in doc["rai:dataLimitations"][-1]
    assert len(_records(tmp_path / "card.collapse-audit.json")) == 200
    assert json.loads((tmp_path / "r.json").read_text())["versions"][0][
        "declaration_agrees"] is False


def test_declared_synthetic_but_none_found(tmp_path, capsys):
    card = describe(tmp_path / "card.json", write_jsonl(tmp_path / "p.jsonl", corpus(40, 0)),
                    True)
    status, out, _ = audit(capsys, "--croissant", card, "--no-diversity")
    assert status == 1
    assert "declares synthetic data (rai:hasSyntheticData true) but none of its 40 rows" in out
    doc = json.loads(output_path(card).read_text())
    assert doc["rai:hasSyntheticData"] is False


def test_nothing_declared_is_only_measured(tmp_path, capsys):
    card = describe(tmp_path / "card.json", write_jsonl(tmp_path / "p.jsonl", corpus(30, 10)),
                    None)
    status, _, _ = audit(capsys, "--croissant", card, "--no-diversity")
    assert status == 0
    doc = json.loads(output_path(card).read_text())
    assert doc["rai:hasSyntheticData"] is True
    assert doc["collapseAudit:declarationAgrees"] is None


def test_wilson_interval_matches_scipy():
    for k, n in ((0, 40), (1, 3), (20, 200), (100, 250), (40, 40)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-6)


def test_file_set_and_provenance_annotation(tmp_path, capsys):
    """A FileSet of two JSONL files (a glob) and the source named by data-level provenance:
    an annotation of the text field whose equivalentProperty is prov:wasAttributedTo."""
    (tmp_path / "shards").mkdir()
    write_jsonl(tmp_path / "shards" / "a.jsonl",
                [{"text": t, "writer": "human"} for t in human()[:50]])
    write_jsonl(tmp_path / "shards" / "b.jsonl",
                [{"text": t, "writer": "synthetic"} for t in synthetic()[:30]])
    ref = {"fileSet": {"@id": "shards"}}
    text = _field("body", ref, "text", annotation=[{
        "@type": "cr:Field", "@id": "posts/body/writer", "name": "writer",
        "dataType": "sc:Text", "equivalentProperty": "prov:wasAttributedTo",
        "source": {**ref, "extract": {"column": "writer"}}}])
    card = describe(tmp_path / "card.json", tmp_path / "shards" / "a.jsonl", True,
                    fields=[text])
    doc = json.loads(card.read_text())
    doc["distribution"] = [{"@type": "cr:FileSet", "@id": "shards", "name": "shards",
                            "encodingFormat": "application/jsonlines",
                            "includes": "shards/*.jsonl"}]
    card.write_text(json.dumps(doc))
    status, _, err = audit(capsys, "--croissant", card, "--text-column", "body",
                           "--json", tmp_path / "r.json", "--no-diversity")
    assert (status, err) == (0, "")
    v = json.loads((tmp_path / "r.json").read_text())["versions"][0]
    assert (v["rows"], v["synthetic_rows"]) == (80, 30)
    assert json.loads(output_path(card).read_text())["collapseAudit:sourceField"] == "source"


@pytest.mark.parametrize("url", ["https://example.com/posts.jsonl", "s3://bucket/posts.jsonl",
                                 "hf://datasets/x/posts.jsonl"])
def test_remote_url_refused(tmp_path, capsys, url):
    card = describe(tmp_path / "card.json", url, True)
    status, out, err = audit(capsys, "--croissant", card)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"collapse-otel audit: {card}: file object 'posts-file': contentUrl")
    assert "remote" in err and "network" in err
    assert not output_path(card).exists()


@pytest.mark.parametrize("body, where", [
    ('{\n  "@context": {},\n  "name": "x",,\n}', ":3: not valid JSON-LD"),
    ("[1, 2]", ": not Croissant JSON-LD"),
    ('{"name": "x"}', ": not Croissant JSON-LD"),
    ('{"@context": {}, "@type": "sc:Person"}', ": not a Croissant dataset"),
    ('{"@context": {}, "@type": "sc:Dataset"}', ": no record set has both"),
    ("\udcff", ": not UTF-8"),
])
def test_malformed_descriptions_one_line(tmp_path, capsys, body, where):
    card = tmp_path / "card.json"
    card.write_bytes(body.encode("utf-8", "surrogateescape"))
    status, out, err = audit(capsys, "--croissant", card)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"collapse-otel audit: {card}{where}")


def test_other_refusals(tmp_path, capsys):
    data = write_jsonl(tmp_path / "p.jsonl", corpus(30, 10))
    card = describe(tmp_path / "card.json", data, True)
    # the file is not the one described (its sha256 differs)
    doc = json.loads(card.read_text())
    doc["distribution"][0]["sha256"] = "1" * 64
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    status, _, err = audit(capsys, "--croissant", bad)
    assert status == 2 and "sha256 is not the one declared" in err
    # no source field
    nosrc = describe(tmp_path / "nosrc.json", data, True, source_field=False)
    status, _, err = audit(capsys, "--croissant", nosrc)
    assert status == 2 and "no record set has both a 'text' and a 'source' field" in err
    # both kinds of input at once
    status, _, err = audit(capsys, "--croissant", card, data)
    assert status == 2 and "not both" in err
    # a data file missing beside the description
    data.unlink()
    status, _, err = audit(capsys, "--croissant", card)
    assert status == 2 and "no file 'p.jsonl' beside the description" in err
    for path in (bad, nosrc, card):
        assert not output_path(path).exists()


def test_published_example(tmp_path, capsys):
    """The standard's own 1.1 recipe (language-tagged names, a CSV FileObject with its
    sha256), audited as published: its name and age fields as text and source."""
    shutil.copytree(DATA / "croissant", tmp_path / "recipe")
    card = tmp_path / "recipe" / "minimal_multilingual.json"
    before = card.read_bytes()
    status, _, err = audit(capsys, "--croissant", card, "--text-column", "name",
                           "--source-column", "age", "--json", tmp_path / "r.json",
                           "--no-diversity")
    assert (status, err) == (0, "")
    assert card.read_bytes() == before
    v = json.loads((tmp_path / "r.json").read_text())["versions"][0]
    assert v["version"] == "minimal_example_with_multilingual_descriptions"
    assert (v["rows"], v["synthetic_rows"], v["declared_synthetic"]) == (4, 0, None)
    written = output_path(card)
    assert json.loads(written.read_text())["rai:hasSyntheticData"] is False
    ds = mlc.Dataset(jsonld=str(written))
    assert not ds.metadata.ctx.issues.errors
    assert [r["examples/age"] for r in ds.records("examples")] == [22, 23, 6, 53]
