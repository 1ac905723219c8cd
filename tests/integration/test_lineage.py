"""Release lineage (collapse_otel.config.lineage): which release is compared with which, and what every
process publishes on ``collapse_release_info``.

Expected values follow docs/operations.md "Release lineage" and the lineage module docstring: a configured
predecessor of the process's own release wins over ``release_order``, which wins over first-seen
order; ``svc=value`` entries scope a value to one service; a process that has seen only its own
release publishes its configured predecessor (and none when nothing is configured).
"""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collapse_otel.config import CollapseConfig, ConfigError
from collapse_otel.config.lineage import ANY, Lineage, parse_order, parse_scoped
from collapse_otel.engine import Aggregator
from collapse_otel.export.otlp import register_otel_metrics
from collapse_otel.export.server import collapse_registry
from collapse_otel.records import AnswerRecord
from collapse_otel.worker import pipeline as pl

INFO_LABELS = {"service", "release", "previous_release", "baseline_release"}


def lineage(own: str = "", previous: str = "", baseline: str = "", order: str = "") -> Lineage:
    return Lineage.from_config(CollapseConfig(release=own or "unknown", previous_release=previous,
                                              baseline_release=baseline, release_order=order))


def release_info(registry: CollectorRegistry) -> dict[tuple[str, str], tuple[str, str]]:
    """(service, release) -> (previous_release, baseline_release) parsed back from the text
    exposition; every series must be 1 and carry exactly the four lineage labels (an empty
    label may be left out, as Prometheus drops it)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != "collapse_release_info":
                continue
            labels = sample.labels
            assert set(labels) <= INFO_LABELS and {"service", "release"} <= set(labels), labels
            assert sample.value == 1.0
            key = (labels["service"], labels["release"])
            assert key not in out, f"two info series for {key}"
            out[key] = (labels.get("previous_release", ""), labels.get("baseline_release", ""))
    return out


def feed(agg: Aggregator, streams: list[tuple[str, str, str]]) -> None:
    """One answer per (service, release, cohort), first seen in list order (a second apart)."""
    t0 = time.time() - len(streams) - 10
    agg.observe_batch([AnswerRecord(f"answer number {i} from {s} {r} {c}", 5, 5, service=s,
                                    release=r, cohort=c, timestamp=t0 + i)
                       for i, (s, r, c) in enumerate(streams)])


# -- parsing ---------------------------------------------------------------------------------

def test_a_plain_value_applies_to_every_service_and_entries_to_one():
    assert parse_scoped("v4") == {ANY: "v4"}
    assert parse_scoped("rag=v4, faq=2024-06") == {"rag": "v4", "faq": "2024-06"}
    assert parse_scoped("v4, rag=v3") == {ANY: "v4", "rag": "v3"}
    assert parse_scoped("") == {}


@pytest.mark.parametrize("bad", ["=v4", "rag=", "rag= ,faq=v1"])
def test_a_half_entry_is_rejected(bad):
    with pytest.raises(ValueError):
        parse_scoped(bad)
    with pytest.raises(ValueError):   # and so is a configuration holding it
        CollapseConfig(previous_release=bad)


def test_release_order_forms():
    assert parse_order("v1, v2,v3") == {ANY: ("v1", "v2", "v3")}
    assert parse_order(["v1", "v2"]) == {ANY: ("v1", "v2")}
    assert parse_order("rag=v1|v2|v3, faq=2024-05|2024-06") == \
        {"rag": ("v1", "v2", "v3"), "faq": ("2024-05", "2024-06")}
    assert parse_order("") == {}
    # a list given in code is kept as one comma-separated string
    assert CollapseConfig(release_order=["v1", "v2"]).release_order == "v1,v2"


# -- precedence ------------------------------------------------------------------------------

def test_nothing_configured_follows_first_seen_order():
    assert Lineage.from_config(None).ordered("rag", ["v2", "v1", "v3"]) == \
        [("v2", ""), ("v1", "v2"), ("v3", "v1")]


def test_one_release_seen_and_nothing_configured_has_no_predecessor():
    assert lineage(own="v5").ordered("rag", ["v5"]) == [("v5", "")]
    assert lineage(own="v5").baseline_of("rag", "v5") == ""


def test_a_process_that_only_knows_its_own_release_still_has_its_predecessor():
    assert lineage(own="v5", previous="v4").ordered("rag", ["v5"]) == [("v5", "v4")]


def test_release_order_wins_over_first_seen():
    lin = lineage(order="v1,v2,v3")
    assert lin.ordered("rag", ["v3", "v1", "v2"]) == [("v1", ""), ("v2", "v1"), ("v3", "v2")]
    # the release before it in the order, even when this process never saw that one
    assert lin.ordered("rag", ["v3"]) == [("v3", "v2")]
    # releases the order does not list follow the listed ones, in first-seen order
    assert lin.ordered("rag", ["canary", "hotfix", "v2"]) == \
        [("v2", "v1"), ("canary", "v2"), ("hotfix", "canary")]


def test_configured_predecessor_wins_over_the_order_for_the_own_release_only():
    lin = lineage(own="v3", previous="v1", order="v1,v2,v3")
    assert lin.ordered("rag", ["v1", "v2", "v3"]) == [("v1", ""), ("v2", "v1"), ("v3", "v1")]
    # and over first-seen order; the other releases keep theirs
    lin = lineage(own="v5", previous="v4")
    assert lin.ordered("rag", ["v3", "v5", "v6"]) == [("v3", ""), ("v5", "v4"), ("v6", "v5")]


def test_an_explicit_release_order_argument_wins_over_the_configured_one():
    config = CollapseConfig(release_order="v3,v2,v1")
    assert Lineage.from_config(config).ordered("s", ["v1", "v2", "v3"]) == \
        [("v3", ""), ("v2", "v3"), ("v1", "v2")]
    assert Lineage.from_config(config, ["v1", "v2", "v3"]).ordered("s", ["v3", "v2", "v1"]) == \
        [("v1", ""), ("v2", "v1"), ("v3", "v2")]


def test_the_baseline_is_every_other_releases_reference():
    lin = lineage(baseline="v1")
    assert [lin.baseline_of("rag", r) for r in ("v2", "v3", "human_holdout")] == ["v1"] * 3
    assert lin.baseline_of("rag", "v1") == ""   # not compared with itself


# -- per-service entries ---------------------------------------------------------------------

def test_svc_entries_scope_each_value_to_one_service():
    lin = lineage(own="v5", previous="rag=v4, faq=2024-06", baseline="rag=v1",
                  order="rag=v1|v2|v3, faq=2024-05|2024-06")
    assert lin.ordered("rag", ["v5"]) == [("v5", "v4")]
    assert lin.ordered("faq", ["v5"]) == [("v5", "2024-06")]
    assert lin.ordered("chat", ["v5"]) == [("v5", "")]       # no entry, no plain value
    assert lin.ordered("rag", ["v3", "v2", "v1"]) == [("v1", ""), ("v2", "v1"), ("v3", "v2")]
    assert lin.ordered("faq", ["2024-06", "2024-05"]) == [("2024-05", ""),
                                                           ("2024-06", "2024-05")]
    assert lin.ordered("chat", ["v3", "v2"]) == [("v3", ""), ("v2", "v3")]   # first seen
    assert (lin.baseline_of("rag", "v3"), lin.baseline_of("faq", "2024-06"),
            lin.baseline_of("chat", "v3")) == ("v1", "", "")


def test_a_service_entry_wins_over_the_plain_value():
    lin = lineage(own="v5", previous="v4, rag=v3", baseline="v0, rag=v1")
    assert lin.ordered("rag", ["v5"]) == [("v5", "v3")]
    assert lin.ordered("faq", ["v5"]) == [("v5", "v4")]
    assert (lin.baseline_of("rag", "v5"), lin.baseline_of("faq", "v5")) == ("v1", "v0")


# -- configuration sources -------------------------------------------------------------------

ENV = {"COLLAPSE_OTEL_RELEASE": "v5", "COLLAPSE_OTEL_PREVIOUS_RELEASE": "rag=v4, faq=2024-06",
       "COLLAPSE_OTEL_BASELINE_RELEASE": "v1", "COLLAPSE_OTEL_RELEASE_ORDER": "rag=v1|v2|v3"}


def test_env_vars_are_the_lineage():
    config = CollapseConfig.resolve(environ=ENV)
    assert (config.release, config.previous_release, config.baseline_release,
            config.release_order) == ("v5", "rag=v4, faq=2024-06", "v1", "rag=v1|v2|v3")
    lin = Lineage.from_config(config)
    assert lin.own_release == "v5"
    assert lin.ordered("rag", ["v5"]) == [("v5", "v4")]
    assert lin.ordered("faq", ["v5"]) == [("v5", "2024-06")]
    assert lin.ordered("rag", ["v2", "v1"]) == [("v1", ""), ("v2", "v1")]
    assert lin.baseline_of("faq", "v5") == "v1"
    # arguments win over the environment
    config = CollapseConfig.resolve(environ=ENV, previous_release="v2")
    assert Lineage.from_config(config).ordered("faq", ["v5"]) == [("v5", "v2")]


def test_a_malformed_env_value_falls_back_unless_strict(caplog):
    env = {"COLLAPSE_OTEL_RELEASE": "v5", "COLLAPSE_OTEL_PREVIOUS_RELEASE": "rag="}
    config = CollapseConfig.resolve(environ=env)   # a typo must not take the host down
    assert config.release == "v5" and config.previous_release == ""
    assert "ignoring invalid COLLAPSE_OTEL_PREVIOUS_RELEASE" in caplog.text
    with pytest.raises(ConfigError):
        CollapseConfig.resolve(environ=env, strict=True)


def test_serve_reads_the_lineage_from_its_yaml_and_publishes_it(tmp_path):
    from collapse_otel.serve.service import Service
    from collapse_otel.serve.settings import collapse_config, resolve

    path = tmp_path / "serve.yaml"
    path.write_text('collapse:\n  release_order: "rag=v1|v2|v3, faq=2024-05|2024-06"\n'
                    '  baseline_release: "rag=v1"\n  refresh_seconds: 0\n')
    settings, _ = resolve(["--config", str(path)], environ={})
    config = collapse_config(settings, {})
    assert (config.release_order, config.baseline_release) == \
        ("rag=v1|v2|v3, faq=2024-05|2024-06", "rag=v1")
    agg = Aggregator(config)
    service = Service(settings, config, aggregator=agg)   # not started: its registry only
    feed(agg, [("rag", "v3", "default"), ("rag", "v1", "default"), ("faq", "2024-06", "default"),
               ("rag", "v2", "default"), ("rag", "v2", "human_holdout"),
               ("faq", "2024-05", "default"), ("chat", "a", "default"), ("chat", "b", "default")])
    assert release_info(service.registry) == {
        ("rag", "v1"): ("", ""), ("rag", "v2"): ("v1", "v1"), ("rag", "v3"): ("v2", "v1"),
        ("faq", "2024-05"): ("", ""), ("faq", "2024-06"): ("2024-05", ""),
        ("chat", "a"): ("", ""), ("chat", "b"): ("a", "")}


# -- what is published -----------------------------------------------------------------------

def test_release_info_exposition_carries_previous_and_baseline():
    agg = Aggregator(CollapseConfig(release="v3", previous_release="v1", baseline_release="v0",
                                    release_order="v0,v1,v2,v3"))
    feed(agg, [("rag", "v3", "default"), ("rag", "v2", "default"), ("rag", "v3", "canary"),
               ("rag", "v0", "default")])
    registry = collapse_registry(CollectorRegistry(), source=agg)
    assert release_info(registry) == {("rag", "v0"): ("", ""), ("rag", "v2"): ("v1", "v0"),
                                      ("rag", "v3"): ("v1", "v0")}
    text = generate_latest(registry).decode()
    assert 'collapse_release_info{baseline_release="v0",previous_release="v1",release="v3",' \
           'service="rag"} 1.0' in text


def test_a_process_serving_only_its_release_publishes_its_predecessor():
    config = CollapseConfig.resolve(environ={"COLLAPSE_OTEL_RELEASE": "v5",
                                             "COLLAPSE_OTEL_PREVIOUS_RELEASE": "v4",
                                             "COLLAPSE_OTEL_BASELINE_RELEASE": "v1"})
    agg = Aggregator(config)
    feed(agg, [("rag", "v5", "default"), ("rag", "v5", "human_holdout")])
    assert release_info(collapse_registry(CollectorRegistry(), source=agg)) == \
        {("rag", "v5"): ("v4", "v1")}
    # without the configuration the same process has nothing to compare v5 with
    agg = Aggregator(CollapseConfig(release="v5"))
    feed(agg, [("rag", "v5", "default")])
    assert release_info(collapse_registry(CollectorRegistry(), source=agg)) == \
        {("rag", "v5"): ("", "")}


def otel_release_info(reader: InMemoryMetricReader) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "collapse.release_info":
                    for point in metric.data.data_points:
                        a = point.attributes
                        out[(a["service"], a["release"])] = (a["previous_release"],
                                                             a["baseline_release"])
    return out


@pytest.fixture
def no_default_pipeline():
    before = pl.set_pipeline(None)
    yield
    current = pl.set_pipeline(before)
    if current is not None and current is not before:
        current.shutdown(5)


def test_the_default_source_publishes_the_env_lineage_on_both_paths(monkeypatch,
                                                                     no_default_pipeline):
    """The process-wide pipeline as the source (no ``source=``): the lineage comes from the
    environment on the Prometheus and the OpenTelemetry path alike."""
    for name, value in {"COLLAPSE_OTEL_RELEASE": "v5", "COLLAPSE_OTEL_PREVIOUS_RELEASE": "v4",
                        "COLLAPSE_OTEL_BASELINE_RELEASE": "v1"}.items():
        monkeypatch.setenv(name, value)
    registry = collapse_registry(CollectorRegistry())
    reader = InMemoryMetricReader()
    metrics = register_otel_metrics(meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        pipeline = pl.get_pipeline()
        assert pipeline.submit(AnswerRecord("an answer from the default pipeline", 5, 5,
                                            service="rag", release="v5"))
        assert pipeline.flush(10)
        assert release_info(registry) == {("rag", "v5"): ("v4", "v1")}
        assert otel_release_info(reader) == {("rag", "v5"): ("v4", "v1")}
    finally:
        metrics.close()


def test_instrument_arguments_are_the_published_lineage(no_default_pipeline):
    """docs/operations.md: ``instrument()`` takes every CollapseConfig field, previous_release and
    baseline_release included; the metrics it publishes carry them."""
    from collapse_otel.capture.instrumentor import instrument, uninstrument

    registry = CollectorRegistry()
    reader = InMemoryMetricReader()
    inst = instrument(service="rag-api", release="v5", previous_release="v4",
                      baseline_release="v1", prometheus=False, registry=registry,
                      meter_provider=MeterProvider(metric_readers=[reader]),
                      metrics_export="otel")
    try:
        pipeline = inst.pipeline
        assert pipeline.submit(AnswerRecord("an answer of release five", 5, 5,
                                            service="rag-api", release="v5"))
        assert pipeline.flush(10)
        assert release_info(registry) == {("rag-api", "v5"): ("v4", "v1")}
        assert otel_release_info(reader) == {("rag-api", "v5"): ("v4", "v1")}
    finally:
        uninstrument()


def test_instruments_own_metrics_server_publishes_its_lineage(no_default_pipeline):
    import urllib.request

    from collapse_otel.capture.instrumentor import instrument, uninstrument

    inst = instrument(service="rag-api", release="v5", release_order="v3,v4,v5",
                      baseline_release="v3", prometheus=True, prometheus_port=0,
                      prometheus_host="127.0.0.1", metrics_export="server", langchain=False)
    try:
        assert inst.metrics_server is not None
        assert inst.pipeline.submit(AnswerRecord("an answer of release five", 5, 5,
                                                 service="rag-api", release="v5"))
        assert inst.pipeline.flush(10)
        text = urllib.request.urlopen(inst.metrics_server.url, timeout=10).read().decode()
        info = {(s.labels["release"], s.labels.get("previous_release", ""),
                 s.labels.get("baseline_release", ""))
                for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name == "collapse_release_info"}
        assert info == {("v5", "v4", "v3")}   # v4 from the order, never seen here
    finally:
        uninstrument()
