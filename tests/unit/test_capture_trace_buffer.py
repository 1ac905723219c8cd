"""TraceBuffer: holding answers per trace, releasing them by root, age, count and caps."""

from __future__ import annotations

from collapse_otel.config import CollapseConfig
from collapse_otel.spans.conventions import LLM, RETRIEVER, SpanFacts
from collapse_otel.spans.records import facts_to_record
from collapse_otel.spans.trace_buffer import MAX_LINKS_PER_TRACE, TraceBuffer, trace_size

CONFIG = CollapseConfig()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def build(facts, resource, ids):
    return facts_to_record(CONFIG, facts, resource, ids)


def answer(n: int) -> SpanFacts:
    return SpanFacts(LLM, answer=f"answer {n}", prompt_tokens=1, completion_tokens=n)


def retrieval(*ids: str) -> SpanFacts:
    return SpanFacts(RETRIEVER, context_ids=ids)


def make(clock=None, on_close=None, **kw) -> TraceBuffer:
    kw.setdefault("hold_seconds", 10.0)
    kw.setdefault("max_traces", 8)
    return TraceBuffer(build, clock=clock or Clock(), on_close=on_close, **kw)


def held_answer(buf: TraceBuffer, trace_id, n: int) -> None:
    """A trace holding one answer (span n, child of root 1)."""
    trace = buf.get(trace_id) or buf.new_trace()
    assert buf.add_span(trace, 100 + n, 1, 500, answer(n), None) is None
    assert buf.hold(trace_id, trace) == []


def tokens(records) -> list[int]:
    return [r.completion_tokens for r in records]


def test_expiry_by_hold_time_in_first_seen_order():
    clock = Clock()
    buf = make(clock)
    held_answer(buf, "a", 1)
    clock.now += 4
    held_answer(buf, "b", 2)
    clock.now += 5.5
    assert buf.expire() == [] and buf.held == 2
    clock.now += 0.5                                  # "a" is now exactly hold_seconds old
    assert tokens(buf.expire()) == [1]
    assert "a" not in buf and "b" in buf
    assert tokens(buf.expire(now=clock.now + 4)) == [2]     # an explicit time wins
    assert buf.held == 0 and buf.expire() == []


def test_rehold_keeps_first_seen_place():
    clock = Clock()
    buf = make(clock)
    held_answer(buf, "a", 1)
    clock.now += 5
    held_answer(buf, "b", 2)
    held_answer(buf, "a", 3)                          # more spans of "a" later
    clock.now += 5
    assert tokens(buf.expire()) == [1, 3]             # "a" still ages from its first span
    assert buf.held == 1


def test_the_oldest_trace_is_evicted_over_max_traces():
    closed = []
    buf = make(max_traces=2, on_close=closed.append)
    held_answer(buf, "a", 1)
    held_answer(buf, "b", 2)
    trace = buf.new_trace()
    buf.add_span(trace, 103, 1, 500, answer(3), None)
    assert tokens(buf.hold("c", trace)) == [1]
    assert closed == ["a"] and "a" not in buf and buf.held == 2
    assert tokens(buf.close_all()) == [2, 3]
    assert closed == ["a", "b", "c"] and buf.held == 0


def test_per_trace_caps():
    buf = make(max_pending_per_trace=2)
    trace = buf.new_trace()
    for n in (1, 2):
        assert buf.add_span(trace, 100 + n, 1, 500, answer(n), None) is None
    over = buf.add_span(trace, 103, 1, 500, answer(3), None)
    assert over is not None and over.completion_tokens == 3 and over.context_ids == ()
    for n in range(3):
        assert buf.add_span(trace, 10 + n, 1, 100, retrieval(f"d{n}"), None) is None
    assert len(trace.pending) == 2 and len(trace.retrievals) == 2
    for n in range(MAX_LINKS_PER_TRACE + 5):
        buf.add_span(trace, 10_000 + n, 1, 0, None, None)
    assert len(trace.parents) == MAX_LINKS_PER_TRACE


def test_retrieval_without_ids_is_not_kept():
    buf = make()
    trace = buf.new_trace()
    buf.add_span(trace, 10, 1, 100, retrieval(), None)
    assert trace.retrievals == [] and trace.parents == {10: 1}


def test_close_joins_retrieval_ids_to_the_nearest_llm_span():
    # root 1 -> chain 2 -> (retriever 10, llm 20) ; root 1 -> chain 3 -> llm 30
    buf = make()
    trace = buf.new_trace()
    buf.add_span(trace, 2, 1, 0, None, None)
    buf.add_span(trace, 3, 1, 0, None, None)
    buf.add_span(trace, 10, 2, 100, retrieval("doc-1", "doc-2"), None)
    buf.add_span(trace, 20, 2, 200, answer(20), None)
    buf.add_span(trace, 30, 3, 300, answer(30), None)
    buf.hold("t", trace)
    records = buf.close("t")
    assert [(r.completion_tokens, r.context_ids) for r in records] == \
        [(20, ("doc-1", "doc-2")), (30, ())]
    assert "t" not in buf and buf.close("t") == []


def test_close_of_a_trace_never_held_uses_the_callers_links():
    def run(links):
        calls = []

        def on_close(trace_id):
            calls.append(trace_id)
            return links

        buf = make(on_close=on_close)
        trace = buf.new_trace()
        buf.add_span(trace, 10, 2, 100, retrieval("near"), None)
        buf.add_span(trace, 11, 3, 100, retrieval("other-chain"), None)
        buf.add_span(trace, 20, 2, 200, answer(1), None)
        (r,) = buf.close("x", trace)
        assert calls == ["x"] and buf.held == 0
        return r.context_ids

    assert run(None) == ("near",)        # chain 3 is not connected to the answer's tree
    assert run([(2, 1), (3, 1)]) == ("near", "other-chain")   # the caller knows both chains


def test_close_calls_on_close_even_without_answers():
    calls = []
    buf = make(on_close=calls.append)
    assert buf.close("nothing") == []
    held = buf.new_trace()
    buf.add_span(held, 10, 1, 100, retrieval("d"), None)
    buf.hold("r", held)
    assert buf.close_all() == [] and calls == ["nothing", "r"]


def test_held_bytes_follow_what_is_held_and_bound_it():
    import sys

    clock = Clock()
    buf = make(clock, max_traces=100)
    big = SpanFacts(LLM, answer="x" * 10_000, completion_tokens=1)
    t = buf.new_trace()
    buf.add_span(t, 2, 1, 0, big, None)
    assert buf.held_bytes == 0                        # not held yet: closing costs nothing
    buf.hold("a", t)
    assert buf.held_bytes == t.counted > sys.getsizeof(big.answer)
    assert trace_size(t) == t.counted
    held_a = buf.held_bytes
    buf.add_span(t, 3, 1, 0, retrieval("d1"), None)   # a held trace grows in place and is
    buf.hold("a", t)                                   # counted again when held again
    assert buf.held_bytes == t.counted > held_a
    for n, trace_id in enumerate("bcd"):
        clock.now += 1
        held_answer(buf, trace_id, 10 + n)
    buf.max_bytes = buf.held_bytes - 1                # one byte too many: the oldest goes
    released = buf.shrink()
    assert [r.answer for r in released] == ["x" * 10_000] and "a" not in buf
    assert buf.evicted == 1
    assert len(buf.close("b")) == 1
    clock.now += 100
    assert len(buf.expire()) == 2 and buf.held == 0
    assert buf.held_bytes == 0
