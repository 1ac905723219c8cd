"""Scale-out: two serve replicas with spans routed by a hash of the release, as the Collector's
loadbalancing exporter does (routing_key: attributes, routing_attributes: [service.version]).

A real Prometheus scrapes both replicas and a single server that got all the traffic. Counter
and histogram sums across replicas equal the single server's; because each release lives in
exactly one replica, its window gauges equal the single server's too.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter

import pytest

from tests.support.prometheus_server import PrometheusServer, scrape_config
from tests.support.requires import require_binary
from tests.support.serve import (
    ServerProcess,
    answer_text,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)

pytestmark = pytest.mark.e2e
RELEASES = ("1.0", "1.1", "2.0", "2.1", "3.0", "canary")
TRACES_PER_REQUEST = 25
REQUESTS_PER_RELEASE = 8
ENV = {"COLLAPSE_OTEL_REFRESH_SECONDS": "0"}     # gauges fresh on every scrape

COUNTERS = ("collapse_answers_total", "collapse_duplicate_answers_total",
            "collapse_llm_tokens_total", "collapse_llm_tokens_estimated_total",
            "collapse_answers_without_text_total", "collapse_prompt_tokens_bucket",
            "collapse_completion_tokens_bucket", "collapse_completion_tokens_sum",
            "collapse_prompt_tokens_count")
GAUGES = ("collapse_window_answers", "collapse_duplicate_answer_ratio",
          "collapse_distinct_ngram_ratio", "collapse_embedding_vendi_score",
          "collapse_context_distinct_ratio", "collapse_completion_tokens_cv",
          "collapse_compression_ratio")


def shard(release: str, replicas: int) -> int:
    """A stable hash of the release picks the replica (crc32 here; the Collector uses its own
    consistent-hash ring, which is equally stable)."""
    return zlib.crc32(release.encode()) % replicas


def traffic(seed: int = 11) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    out = []
    for _ in range(REQUESTS_PER_RELEASE):
        for r, release in enumerate(RELEASES):
            spans = []
            for _ in range(TRACES_PER_REQUEST):
                # later releases repeat themselves more: duplicates differ per release
                text = "the same canned reply" if rng.random() < r / 10 else answer_text(rng)
                spans += rag_trace(rng, text, tokens=(rng.randrange(5, 900), rng.randrange(1, 300)),
                                   doc=f"doc-{rng.randrange(40 + 30 * r)}")
            out.append((release, request_of({("agent", release): spans}).SerializeToString()))
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("replicas")
    servers = [ServerProcess(tmp, env=ENV) for _ in range(3)]
    replicas, single = servers[:2], servers[2]
    prom = None
    try:
        assert len({shard(r, 2) for r in RELEASES}) == 2, "both replicas must get releases"
        for release, body in traffic():
            assert post(replicas[shard(release, 2)].url, body)[0] == 200
            assert post(single.url, body)[0] == 200
        total = REQUESTS_PER_RELEASE * len(RELEASES) * TRACES_PER_REQUEST
        for s in servers:
            wait_for(lambda s=s: value(s.metrics(), "collapse_serve_queued_answers") == 0, 60,
                     "analysis done")
        wait_for(lambda: sum(value(s.metrics(), "collapse_answers_total") for s in replicas)
                 == total == value(single.metrics(), "collapse_answers_total"), 60, "answers")
        prom = PrometheusServer(scrape_config({
            "replicas": [s.metrics_url.split("/")[2] for s in replicas],
            "single": [single.metrics_url.split("/")[2]]}), tmp / "prometheus")
        query = prom.query

        def ready() -> bool:
            try:
                return [float(r["value"][1]) for r in query(
                    'sum by (job) (collapse_answers_total)')] == [total, total]
            except OSError:
                return False
        wait_for(ready, 60, "Prometheus scraped every server")
        yield query
    finally:
        if prom is not None:
            prom.stop()
        for s in servers:
            s.stop()


def _series(results: list[dict]) -> dict[tuple, float]:
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("job", "instance"))):
            float(r["value"][1]) for r in results}


@pytest.mark.parametrize("metric", COUNTERS)
def test_counters_and_histograms_sum_across_replicas(stack, metric):
    query = stack
    by = "service, release, cohort, kind, type, le"
    replicas = _series(query(f'sum by ({by}) ({metric}{{job="replicas"}})'))
    single = _series(query(f'sum by ({by}) ({metric}{{job="single"}})'))
    assert replicas == single and single


def test_each_release_lives_in_exactly_one_replica(stack):
    counts = _series(stack('count by (release) (collapse_window_answers{job="replicas"})'))
    assert counts == {(("release", r),): 1.0 for r in RELEASES}
    dup = _series(stack('sum by (release) (collapse_duplicate_answers_total'
                        '{job="single", kind="exact"})'))
    assert dup[(("release", "canary"),)] > dup[(("release", "1.0"),)]


@pytest.mark.parametrize("metric", GAUGES)
def test_window_gauges_of_a_sharded_release_equal_one_server(stack, metric):
    query = stack
    replicas = _series(query(f'{metric}{{job="replicas"}}'))
    single = _series(query(f'{metric}{{job="single"}}'))
    assert replicas.keys() == single.keys() and single
    for key, v in single.items():
        assert replicas[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key


def test_fleet_wide_ratio_from_summed_counters(stack):
    """What an SRE writes across replicas: ratios of summed counters, never sums of gauges."""
    promql = ('sum by (release) (collapse_duplicate_answers_total{{job="{job}", kind="exact"}})'
              ' / sum by (release) (collapse_answers_total{{job="{job}"}})')
    replicas = _series(stack(promql.format(job="replicas")))
    single = _series(stack(promql.format(job="single")))
    assert replicas == single
    assert Counter(k[0][0] for k in single) == {"release": len(RELEASES)}
