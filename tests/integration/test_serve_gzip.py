"""gzip request bodies: every member is decoded (bounded in total), anything else after the
last member is a 400, never a 200 for the first member alone."""

from __future__ import annotations

import gzip

import pytest

from collapse_otel.serve.body import MAX_GZIP_MEMBERS, gunzip
from tests.support.serve import post
from tests.support.serve_service import body_of, start

GZ = {"Content-Encoding": "gzip"}


def test_gunzip_rules():
    a, b = b"first member " * 50, b"second member " * 50
    assert gunzip(gzip.compress(a), 10_000) == a
    assert gunzip(gzip.compress(a) + gzip.compress(b), 10_000) == a + b
    assert gunzip(gzip.compress(a) + gzip.compress(b"") + gzip.compress(b), 10_000) == a + b
    assert gunzip(gzip.compress(a) + gzip.compress(b), len(a) + len(b)) == a + b
    assert gunzip(gzip.compress(a) + gzip.compress(b), len(a) + len(b) - 1) is None   # 413
    assert gunzip(gzip.compress(a) + b"garbage", 10_000) == "trailing data after the gzip body"
    assert gunzip(gzip.compress(a) + b"\0" * 8, 10_000) == "trailing data after the gzip body"
    assert gunzip(gzip.compress(a) + gzip.compress(b)[:-3], 10_000) == "truncated gzip body"
    assert gunzip(gzip.compress(a) + b"\x1f\x8bjunk", 10_000) == "invalid gzip body"
    many = gzip.compress(b"x") * (MAX_GZIP_MEMBERS + 1)
    assert gunzip(many, 10_000) == "too many gzip members"
    assert gunzip(gzip.compress(b"x") * MAX_GZIP_MEMBERS, 10_000) == b"x" * MAX_GZIP_MEMBERS


@pytest.fixture
def served():
    svc, agg = start(max_body_bytes=64 * 1024)
    yield svc, agg, f"http://127.0.0.1:{svc.ports['otlp_http']}/v1/traces"
    svc.stop()


def test_multi_member_body_counts_every_member(served):
    svc, agg, url = served
    # concatenated protobuf messages merge, so the two members are one request of 5 traces
    body = gzip.compress(body_of(2, seed=1)) + gzip.compress(body_of(3, seed=2))
    assert post(url, body, headers=GZ)[0] == 200
    assert svc.receiver.drain(10)
    assert len(agg.records) == 5


def test_trailing_garbage_and_oversized_members_are_refused(served):
    svc, agg, url = served
    one = gzip.compress(body_of(2, seed=1))
    assert post(url, one + b"trailing garbage", headers=GZ)[0] == 400
    assert post(url, one + one[:-4], headers=GZ)[0] == 400
    big = gzip.compress(b"\n\0" * 20_000)      # 40,000 bytes each: one fits, not two
    assert post(url, big * 3, headers=GZ)[0] == 413
    assert svc.receiver.drain(10)
    assert agg.records == []
    assert svc.receiver.stats.requests[("http", "400")] == 2
