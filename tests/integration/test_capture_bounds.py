"""Every capture path is bounded in bytes and in work in the caller's thread.

The span processor charges the bytes of a span's attributes on the queue's byte budget
(``queue_mb``), shared with observe() and the handler; a charge lasts until the worker has
analysed the item, so what the worker holds counts too. An iterable argument is read for a
fixed number of items; a long string is cut before any per-character work."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time

from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.observe import observe
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.config import CollapseConfig
from collapse_otel.spans.build import CONTEXT_ITEMS_READ, QUESTION_CAPTURE_CHARS
from collapse_otel.worker.pipeline import Pipeline
from tests.support.waiting import run_watched, wait_progressing

MIB = 1 << 20


class _Worker:
    """Holds the pipeline's worker inside a deferred until released: nothing drains."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        pipeline.submit_deferred(lambda: (self.entered.set(), self.gate.wait(60), [])[2])
        assert self.entered.wait(30)


def _flushed(p: Pipeline) -> None:
    """Flush, waiting as long as the worker makes progress (long answers on a busy machine)."""
    wait_progressing(lambda: p.flush(5), "the pipeline flushed",
                     progress=lambda: p.stats().records_processed)


def _span(tracer, text: str) -> None:
    with tracer.start_as_current_span("llm", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 3,
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": text}):
        pass


def test_span_processor_shares_the_queue_byte_budget_with_observe() -> None:
    p = Pipeline(CollapseConfig(queue_mb=8, refresh_seconds=3600))
    tp = TracerProvider()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    tracer = tp.get_tracer("t")
    worker = _Worker(p)
    try:
        for i in range(40):   # 40 MB of distinct answers against an 8 MiB budget
            _span(tracer, f"{i} " + "x" * MIB)
        queued = len(p._queue)
        assert 6 <= queued <= 8, queued
        assert p.stats().dropped["queue_full"] == 40 - queued
        assert p._queued_bytes <= 8 * MIB
        # the same budget: observe()'s long answers (cut to 100,000 characters) fill only
        # what the spans left
        left = 8 * MIB - p._queued_bytes
        accepted = sum(observe(f"{i} " + "y" * 200_000, pipeline=p) for i in range(40))
        assert accepted == left // 100_051, (accepted, left)
        assert p._queued_bytes <= 8 * MIB
        assert observe("a short answer", pipeline=p)   # short records are never refused
    finally:
        worker.gate.set()
    _flushed(p)
    assert p._queued_bytes == 0
    p.shutdown()


def test_the_charge_lasts_until_the_worker_has_analysed_the_batch() -> None:
    """While a batch of long answers is being analysed it still counts: accepted answers
    (queued plus in analysis) never pass the budget."""
    p = Pipeline(CollapseConfig(queue_mb=8, refresh_seconds=3600))
    inside, release = threading.Event(), threading.Event()
    observe_batch = p.aggregator.observe_batch

    def slow(records):
        inside.set()
        release.wait(60)
        return observe_batch(records)

    p.aggregator.observe_batch = slow
    answer = "z" * (MIB // 2)
    try:
        accepted = sum(observe(f"{i} {answer}", pipeline=p) for i in range(4))
        assert inside.wait(30)   # the worker holds these in its batch now
        accepted += sum(observe(f"{i} {answer}", pipeline=p) for i in range(4, 200))
        # 100,000 characters of each are kept (max_answer_chars): about 10 fit in 1 MiB
        assert accepted * 100_000 <= 8 * MIB, accepted
        assert accepted >= 80, accepted
    finally:
        release.set()
    _flushed(p)
    assert p._queued_bytes == 0
    p.shutdown()


def test_an_endless_iterable_is_read_for_a_fixed_number_of_items() -> None:
    p = Pipeline(CollapseConfig(refresh_seconds=3600))
    read = itertools.count()
    done: list[bool] = []
    caller = threading.Thread(target=lambda: done.append(observe(
        "an answer", context_ids=(next(read) and None for _ in itertools.repeat(None)),
        pipeline=p)), daemon=True)
    caller.start()
    caller.join(30)
    assert done == [True]   # returned, queued
    assert next(read) == CONTEXT_ITEMS_READ
    ids = iter(["doc-1", "doc-2"] + [None] * 10**6)
    assert observe("another", context_ids=ids, pipeline=p)
    _flushed(p)
    p.shutdown()


class _Huge(str):
    """A long string that fails any per-character method called on all of it."""

    def _whole(self, *args, **kwargs):
        raise AssertionError("per-character work on the whole string in the caller")

    strip = lstrip = rstrip = lower = split = encode = isascii = isprintable = _whole
    replace = casefold = translate = __iter__ = _whole


def test_long_strings_are_cut_before_any_per_character_work() -> None:
    p = Pipeline(CollapseConfig(refresh_seconds=3600))
    huge = _Huge("what is the question " * 200_000)   # 4.2 MB
    label = _Huge("v" * 1_000_000)
    seen = []
    p._put = lambda item: seen.append(item) or True
    assert observe("an answer", question=huge, release=label, model=label, cohort=label,
                   pipeline=p)
    (record,) = seen
    assert len(record.question) <= 2 * QUESTION_CAPTURE_CHARS
    assert len(record.release) <= 128 and record.release.startswith("vvv")


def test_span_processor_rss_stays_bounded_by_the_budget() -> None:
    """In its own process: 300 spans of distinct 1 MB answers while the worker is held. The
    queue keeps 16 MiB of them; RSS grows by a small multiple of that, not by 300 MB."""
    script = f"""
import threading
from opentelemetry.sdk.trace import TracerProvider
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.config import CollapseConfig
from collapse_otel.worker.pipeline import Pipeline

def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024

p = Pipeline(CollapseConfig(queue_mb=16, refresh_seconds=3600))
tp = TracerProvider()
tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
tracer = tp.get_tracer('t')
gate, entered = threading.Event(), threading.Event()
p.submit_deferred(lambda: (entered.set(), gate.wait(120), [])[2])
entered.wait(30)
with tracer.start_as_current_span('warm', attributes={{'gen_ai.operation.name': 'chat',
        'gen_ai.completion.0.content': 'x' * {MIB}}}):
    pass
before = rss()
for i in range(300):
    with tracer.start_as_current_span('llm', attributes={{'gen_ai.operation.name': 'chat',
            'gen_ai.completion.0.role': 'assistant',
            'gen_ai.completion.0.content': str(i) + 'x' * {MIB}}}):
        pass
print(before, rss(), len(p._queue))
gate.set()
"""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    before, after, queued = map(float, proc.stdout.split())
    assert queued <= 17
    assert after - before < 60, (before, after, time.monotonic() - start)


def test_observe_peak_rss_with_long_answers_stays_near_the_budget() -> None:
    """In its own process: 600 observe() calls of distinct 1 MB answers with the worker
    running (16 MiB queue), then a refresh of the window, whose sample now holds 1,000
    answers of 4,096 characters. The peak RSS over the baseline stays near the queue
    budget: the analysis holds a bounded chunk and a refresh a bounded amount of sample
    text (before, the refresh alone took 229 MiB)."""
    script = f"""
from collapse_otel.capture.observe import observe
from collapse_otel.config import CollapseConfig
from collapse_otel.worker.pipeline import Pipeline

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

words = " ".join(f"w{{i % 5000}} x{{(i * 7919) % 3001}}" for i in range(120_000))[:{MIB}]
p = Pipeline(CollapseConfig(queue_mb=16, refresh_seconds=3600))
observe("warm " + words[:200_000], pipeline=p)
assert p.flush(600)
p.aggregator.snapshot(max_age=0)
base = status('VmRSS:')
accepted = sum(observe(str(i) + " " + words, pipeline=p) for i in range(600))
assert p.flush(600)
p.aggregator.snapshot(max_age=0)
print(base, status('VmHWM:'), accepted)
"""
    proc = run_watched([sys.executable, "-c", script],
                       env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    base, peak, accepted = map(float, proc.stdout.split())
    assert accepted >= 100
    assert peak - base < 16 + 72, (base, peak)
