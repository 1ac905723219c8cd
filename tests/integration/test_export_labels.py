"""Label safety: hostile release names give a valid exposition; the stream cap holds end to end."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator, AggregatorSnapshot
from collapse_otel.export.encode import generate_text
from collapse_otel.export.prometheus import CollapseCollector
from collapse_otel.records import OTHER_RELEASE, AnswerRecord, StreamKey
from collapse_otel.text.labels import MAX_LABEL_CHARS, safe_label_value
from tests.support.promtool_metrics import promtool_problems
from tests.support.synthetic import synthetic_stream

HOSTILE = [
    'say "hi"', "two\nlines", "{brace}", "back\\slash", "x" * 300, "x" * 299 + "y",
    "bad\udcff\udcfeutf8", b"raw \xff\xfe bytes".decode("utf-8", "surrogateescape"),
    "nul\x00bell\x07", '"}\n{le="+Inf', "ünïcödé ✓ 東京",
]


def _releases(exposition: bytes) -> set[str]:
    return {s.labels["release"] for fam in text_string_to_metric_families(exposition.decode())
            if fam.name == "collapse_answers" for s in fam.samples}


def _exposition(snapshot_source) -> bytes:
    registry = CollectorRegistry()
    registry.register(CollapseCollector(snapshot_source))
    return generate_text(registry)


def test_safe_label_value_keeps_ordinary_values_and_repairs_the_rest():
    for ok in ("v1", "2024-05-01.rc1", 'say "hi"', "two\nlines", "ünïcödé ✓ 東京", "{brace}"):
        assert safe_label_value(ok) == ok
    long_a, long_b = safe_label_value("x" * 300), safe_label_value("x" * 299 + "y")
    assert len(long_a) <= MAX_LABEL_CHARS and len(long_b) <= MAX_LABEL_CHARS
    assert long_a != long_b   # a hash of the original keeps truncated values apart
    broken = safe_label_value("bad\udcff")
    broken.encode("utf-8")
    assert broken.startswith("bad\ufffd") and broken != safe_label_value("bad\udcfe")
    assert "\x00" not in safe_label_value("nul\x00")
    assert safe_label_value(b"raw \xff") .encode("utf-8")
    assert safe_label_value(None) == "" and safe_label_value(7) == "7"


def test_hostile_release_names_bypassing_the_aggregator_give_a_valid_exposition():
    """The exporter's own guard: a snapshot source that did not sanitise anything."""
    streams = tuple(synthetic_stream(StreamKey("svc", r, "default"), first_seen=i)
                    for i, r in enumerate(HOSTILE))
    text = _exposition(lambda: AggregatorSnapshot(streams, 0, 0.0))
    text.decode("utf-8")                               # valid UTF-8 throughout
    releases = _releases(text)                         # prometheus_client parses it back
    assert len(releases) == len(HOSTILE)               # no two hostile names merged
    assert {'say "hi"', "two\nlines", "{brace}", "back\\slash"} <= releases
    assert all(len(r) <= MAX_LABEL_CHARS for r in releases)
    assert b'release="say \\"hi\\""' in text and b'release="two\\nlines"' in text
    assert promtool_problems(text) == []


def test_hostile_release_names_through_the_aggregator_give_a_valid_exposition():
    aggregator = Aggregator(CollapseConfig(max_streams=50))
    for i, release in enumerate(HOSTILE):
        aggregator.observe(AnswerRecord(f"Answer number {i} about Lisbon.", 10, 5, ("d",),
                                        release=release))
    text = _exposition(aggregator.snapshot)
    releases = _releases(text)
    assert 'say "hi"' in releases and "two\nlines" in releases and "{brace}" in releases
    assert all(len(r) <= MAX_LABEL_CHARS for r in releases)
    assert promtool_problems(text) == []


def test_100k_release_names_stay_within_the_stream_cap():
    cap = 200
    aggregator = Aggregator(CollapseConfig(max_streams=cap))
    records = [AnswerRecord(None, 3, 2, release=f"rel-{i}") for i in range(100_000)]
    for start in range(0, len(records), 5_000):
        aggregator.observe_batch(records[start:start + 5_000])
    text = _exposition(aggregator.snapshot)
    releases = _releases(text)
    assert OTHER_RELEASE in releases
    assert len(releases) == cap + 1
    folded = {s.name: s.value for fam in text_string_to_metric_families(text.decode())
              for s in fam.samples if fam.name == "collapse_streams_folded"}
    assert folded["collapse_streams_folded_total"] == 100_000 - cap
    answers = sum(s.value for fam in text_string_to_metric_families(text.decode())
                  if fam.name == "collapse_answers" for s in fam.samples)
    assert answers == 100_000   # folded, not lost


def test_a_release_named_like_the_overflow_keeps_a_series_of_its_own():
    """Past the cap, streams fold into release="__other__"; a user's release of that name is
    escaped (``__other__~<hash>``), so its answers never merge with the folded ones."""
    cap = 3
    aggregator = Aggregator(CollapseConfig(max_streams=cap))
    aggregator.observe_batch([AnswerRecord(None, 3, 2, release=OTHER_RELEASE)] * 7)
    aggregator.observe_batch([AnswerRecord(None, 3, 2, release=f"rel-{i}") for i in range(9)])
    text = _exposition(aggregator.snapshot)
    counts = {s.labels["release"]: s.value for fam in text_string_to_metric_families(text.decode())
              if fam.name == "collapse_answers" for s in fam.samples}
    (own,) = [r for r in counts if r.startswith(f"{OTHER_RELEASE}~")]
    assert counts[own] == 7                      # the user's release, whole
    assert counts[OTHER_RELEASE] == 9 - (cap - 1)   # only the folded streams
    assert sum(counts.values()) == 16
    assert promtool_problems(text) == []


def test_an_evaluator_named_like_the_overflow_is_escaped_too():
    from collapse_otel.records.outcomes import evaluator_name

    assert evaluator_name(OTHER_RELEASE).startswith(f"{OTHER_RELEASE}~")
    assert evaluator_name("judge") == "judge"
