"""instrument() / uninstrument(): existing LangChain code is covered with no change."""

from __future__ import annotations

import threading
import urllib.request
from importlib.metadata import entry_points

import pytest

from collapse_otel.capture.instrumentor import CollapseInstrumentor, instrument, uninstrument
from collapse_otel.records import AnswerRecord
from collapse_otel.worker import pipeline as pl
from tests.support.capture import ANSWERS, rag_chain


@pytest.fixture
def restore_default():
    before = pl.set_pipeline(None)
    pl.set_pipeline(before)
    yield before
    CollapseInstrumentor().uninstrument()
    pl.set_pipeline(before)


def answers_in(p):
    assert p.flush(5)
    return sum(s.answers_total for s in p.aggregator.snapshot().streams)


def test_existing_chain_is_captured_then_released(restore_default):
    chain = rag_chain()  # built before instrument(): no callbacks anywhere
    inst = instrument(release="zero-code", prometheus=False)
    p = pl.get_pipeline()
    assert p is inst.pipeline and p is not restore_default
    assert chain.invoke("q") == ANSWERS[0]
    t = threading.Thread(target=chain.invoke, args=("from another thread",))
    t.start()
    t.join()
    assert answers_in(p) == 2
    (stream,) = p.aggregator.snapshot().streams
    assert stream.key.release == "zero-code" and stream.window.get("context_distinct_ratio") is not None
    chain.invoke("q", config={"metadata": {"release": "per-request"}})  # metadata wins
    assert answers_in(p) == 3
    assert {s.key.release for s in p.aggregator.snapshot().streams} == {"zero-code",
                                                                         "per-request"}
    uninstrument()
    assert pl.get_pipeline() is not p
    assert chain.invoke("q") in ANSWERS
    assert not p.submit(AnswerRecord("late"))  # the old pipeline is shut down
    assert answers_in(p) == 3


def test_instrument_twice_is_harmless(restore_default):
    instrument(prometheus=False)
    first = pl.get_pipeline()
    instrument(prometheus=False)  # BaseInstrumentor warns and keeps the first
    assert pl.get_pipeline() is first
    uninstrument()
    uninstrument()


def test_metrics_served_when_asked(restore_default):
    inst = instrument(release="served", prometheus=True, prometheus_port=0,
                      prometheus_host="127.0.0.1")
    server = inst.metrics_server
    assert server is not None, "instrument(prometheus=True) must serve /metrics"
    rag_chain().invoke("q")
    assert pl.flush(5)
    body = urllib.request.urlopen(server.url, timeout=10).read().decode()
    assert 'collapse_answers_total{' in body and 'release="served"' in body
    uninstrument()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_entry_point_for_opentelemetry_instrument():
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "collapse"]
    assert ep.load() is CollapseInstrumentor
    assert tuple(CollapseInstrumentor().instrumentation_dependencies()) == ()
