"""The analysis in a separate process: the same answers give the same windows and counters as
in-process, the host never blocks on a stalled analysis process (drops are counted), the
analysis process dies with its host, and a dead one falls back to in-process analysis."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.host_app import human_answers
from collapse_otel.config import CollapseConfig
from collapse_otel.multiprocess.source import MultiprocessSource
from collapse_otel.offload.host import ProcessPipeline
from collapse_otel.records import AnswerRecord
from collapse_otel.records.outcomes import FEEDBACK, Outcome
from collapse_otel.worker.pipeline import Pipeline
from tests.support.waiting import wait_progressing

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="AF_UNIX SOCK_SEQPACKET")


def _records(n: int = 400) -> list[AnswerRecord]:
    """Human answers over three streams, with exact repeats, a long answer (sent in
    fragments), answers without text, questions, references and intermediate calls."""
    answers = human_answers(n // 4)   # every answer again 300 records later, same stream
    out = []
    t0 = time.time() - 1000.0
    for i in range(n):
        text = answers[i % len(answers)] if i % 17 else None
        if i == 5:
            text = " ".join(answers * 4)   # ~240 kB: several datagrams
        out.append(AnswerRecord(
            text, prompt_tokens=40 + i % 7, completion_tokens=130 + i % 11,
            release=f"r{i % 3}", service="svc", timestamp=t0 + i, question=f"q{i % 40}",
            source="langchain", intermediate=i % 23 == 0, refs=(f"run:{i:032x}",),
            context_ids=(f"doc{i % 5}",)))
    return out


def _outcomes() -> list[Outcome]:
    return [Outcome(FEEDBACK, refs=(f"run:{i:032x}",), rating="up" if i % 2 else "down",
                    timestamp=time.time()) for i in range(0, 400, 9)]


def _config(directory) -> CollapseConfig:
    return CollapseConfig.resolve(environ={}, multiproc_dir=str(directory), window_answers=200,
                                  refresh_seconds=0.0)


def _streams(directory, config):
    snap = MultiprocessSource(directory, config, cache_seconds=0.0).snapshot()
    return sorted((dataclasses.replace(s, first_seen=0.0) for s in snap.streams),
                  key=lambda s: s.key)


def test_same_answers_give_identical_windows_and_counters(tmp_path):
    records, outcomes = _records(), _outcomes()
    results = {}
    for name, cls in (("thread", Pipeline), ("process", ProcessPipeline)):
        config = _config(tmp_path / name)
        (tmp_path / name).mkdir()
        pipeline = cls(config)
        try:
            for r in records:
                assert pipeline.submit(r)
            assert pipeline.flush(300)
            for o in outcomes:
                assert pipeline.submit_outcome(o)
            assert pipeline.flush(300)
            stats = pipeline.stats()
        finally:
            pipeline.shutdown(60)
        results[name] = (_streams(tmp_path / name, config), stats)
    (thread, t_stats), (process, p_stats) = results["thread"], results["process"]
    assert len(thread) == 3 and all(s.answers_total > 0 for s in thread)
    assert sum(s.answers_without_text_total for s in thread) > 0
    assert sum(sum(s.feedback_total.values()) for s in thread) == len(outcomes)
    assert all(len(s.window.values) >= 5 and s.window.window_answers_with_text > 0
               for s in thread)
    assert sum(sum(s.duplicate_answers_total.values()) for s in thread) > 0
    assert process == thread
    assert p_stats.records_processed == t_stats.records_processed
    assert p_stats.intermediate == t_stats.intermediate and p_stats.dropped == {}


def test_a_stalled_analysis_process_never_blocks_the_host_and_drops_are_counted(tmp_path):
    pipeline = ProcessPipeline(_config(tmp_path))
    try:
        pid = pipeline.analysis_pid
        record = _records(4)[1]
        assert pipeline.submit(record) and pipeline.flush(300)
        os.kill(pid, signal.SIGSTOP)   # the analysis process makes no progress at all
        try:
            sent = 0
            for _ in range(100_000):   # a blocking send would hang here for good
                sent += pipeline.submit(record)
            dropped = pipeline.stats().dropped.get("queue_full", 0)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert dropped > 0 and sent + dropped == 100_000
        assert pipeline.flush(300)
        stats = pipeline.stats()
        assert stats.records_processed == 1 + sent
        assert stats.dropped == {"queue_full": dropped}
    finally:
        pipeline.shutdown(60)
    # the state file the host's /metrics reads counts the host's drops too
    merged = MultiprocessSource(tmp_path, _config(tmp_path), cache_seconds=0.0).stats()
    assert merged.dropped.get("queue_full") == dropped


def _stat(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_analysis_process_dies_with_a_killed_host(tmp_path):
    code = ("import sys, collapse_otel; from collapse_otel.worker.pipeline import get_pipeline; "
            "collapse_otel.instrument(analysis='process', prometheus=False); "
            "print(get_pipeline().analysis_pid, flush=True); sys.stdin.read()")
    host = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "COLLAPSE_OTEL_MULTIPROC_DIR": str(tmp_path)})
    try:
        child = int(host.stdout.readline())
        assert _alive(child)
    finally:
        host.kill()
        host.wait()
    wait_progressing(lambda: not _alive(child), "the analysis process to exit",
                     progress=lambda: _stat(child))


def test_a_dead_analysis_process_falls_back_to_in_process_analysis(tmp_path):
    config = _config(tmp_path)
    pipeline = ProcessPipeline(config)
    try:
        records = _records(40)
        for r in records[:20]:
            assert pipeline.submit(r)
        assert pipeline.flush(300)
        pid = pipeline.analysis_pid
        os.kill(pid, signal.SIGKILL)
        wait_progressing(lambda: not _alive(pid) or pipeline.analysis_pid is None,
                         "the analysis process to die", progress=lambda: None)
        for r in records[20:]:
            pipeline.submit(r)
        assert pipeline.in_process
        assert pipeline.flush(300)
        assert pipeline.aggregator.snapshot().streams   # analysed here since it died
    finally:
        pipeline.shutdown(60)


def test_instrument_with_an_analysis_process_serves_its_answers(monkeypatch):
    """``instrument(analysis="process")`` with no multiprocess directory: a private one,
    /metrics (the process-wide source) shows the chain's answers, uninstrument removes it."""
    import urllib.request
    from pathlib import Path

    from collapse_otel.capture.instrumentor import instrument, uninstrument
    from collapse_otel.worker import pipeline as pl
    from tests.support.capture import rag_chain

    monkeypatch.delenv("COLLAPSE_OTEL_MULTIPROC_DIR", raising=False)
    before = pl.set_pipeline(None)
    try:
        inst = instrument(release="offloaded", analysis="process", prometheus=True,
                          prometheus_port=0, prometheus_host="127.0.0.1")
        p = pl.get_pipeline()
        assert isinstance(p, ProcessPipeline) and p.analysis_pid and not p.in_process
        private = Path(p.config.multiproc_dir)
        assert private.is_dir() and private.stat().st_mode & 0o777 == 0o700
        chain = rag_chain()
        for q in ("q1", "q2", "q3"):
            chain.invoke(q)
        assert pl.flush(300)
        assert p.stats().records_processed == 3
        body = urllib.request.urlopen(inst.metrics_server.url, timeout=60).read().decode()
        assert 'collapse_answers_total{' in body
        line = next(x for x in body.splitlines() if x.startswith("collapse_answers_total{")
                    and 'release="offloaded"' in x)
        assert float(line.rsplit(" ", 1)[1]) == 3.0
        from collapse_otel.export.series import as_snapshot_source

        (stream,) = as_snapshot_source(p)().streams   # the pipeline as a collector's source
        assert stream.answers_total == 3 and stream.key.release == "offloaded"
        pid = p.analysis_pid
        uninstrument()
        assert not private.exists() and not _alive(pid)
    finally:
        pl.set_pipeline(before)


def _agent_turns(pipeline) -> None:
    """Two real LangGraph ReAct turns through the handler: one stuck on a failing tool until
    its step limit, one that calls its tool once and answers."""
    import itertools

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import ToolException, tool
    from langgraph.errors import GraphRecursionError

    from collapse_otel.capture.langchain_handler import CollapseCallbackHandler

    prebuilt = pytest.importorskip("langgraph.prebuilt")

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    def call(n: int) -> AIMessage:
        return AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Oslo"},
                                                  "id": f"call-{n}"}])

    @tool
    def failing(city: str) -> str:
        """Weather of a city."""
        raise ToolException("weather service unavailable")

    @tool
    def weather(city: str) -> str:
        """Weather of a city."""
        return "sunny"

    failing.name = weather.name
    failing.handle_tool_error = True
    handler = CollapseCallbackHandler(pipeline=pipeline)
    with pytest.warns(Warning):   # create_react_agent is deprecated in langgraph 1.x
        stuck = prebuilt.create_react_agent(
            ToolCallingFake(messages=(call(n) for n in itertools.count())), [failing])
        fine = prebuilt.create_react_agent(ToolCallingFake(messages=iter(
            [call(0), AIMessage(content="It is sunny in Oslo today.")])), [weather])
    with pytest.raises(GraphRecursionError):
        stuck.with_config(recursion_limit=9).invoke(
            {"messages": [("user", "Weather in Oslo?")]}, config={"callbacks": [handler]})
    fine.invoke({"messages": [("user", "Weather in Oslo?")]}, config={"callbacks": [handler]})


def test_agent_loops_are_judged_in_the_analysis_process_with_the_same_counts(tmp_path):
    """An ended agent turn's loop evidence goes to the analysis process, which judges it: the
    same loop counters as in-process, and no worker thread ever started in the host."""
    from collapse_otel.turns.loops import REPEATED_ANSWER, REPEATED_TOOL_CALL, STEP_LIMIT

    results = {}
    for name, cls in (("thread", Pipeline), ("process", ProcessPipeline)):
        (tmp_path / name).mkdir()
        config = dataclasses.replace(_config(tmp_path / name), release="agents")
        pipeline = cls(config)
        try:
            _agent_turns(pipeline)
            assert pipeline.flush(300)
            host_thread = pipeline._thread
        finally:
            pipeline.shutdown(60)
        results[name] = (_streams(tmp_path / name, config), host_thread)
    (thread, worker), (process, host_worker) = results["thread"], results["process"]
    (stream,) = thread
    assert stream.agent_turns_total == {"true": 1, "false": 1}
    assert stream.agent_loops_total == {REPEATED_ANSWER: 0, REPEATED_TOOL_CALL: 1,
                                        STEP_LIMIT: 1}
    assert stream.agent_loop_length.count == 2 and stream.agent_loop_length.sum == 4.0 + 1.0
    assert process == thread
    assert worker is not None and host_worker is None


_FORKED = """
import os, sys, tempfile
from collapse_otel.config import CollapseConfig
from collapse_otel.offload.host import ProcessPipeline
from collapse_otel.records import AnswerRecord

p = ProcessPipeline(CollapseConfig.resolve(environ={}, multiproc_dir=sys.argv[1]))
assert p.submit(AnswerRecord("from the parent " * 20)) and p.flush(300)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    ok = p.submit(AnswerRecord("from the forked worker " * 20)) and p.flush(300)
    os.write(w, f"{p.analysis_pid} {p.stats().records_processed} {ok}".encode())
    p.shutdown(60)
    os._exit(0)
os.waitpid(pid, 0)
print(p.analysis_pid, os.read(r, 100).decode(), p.stats().records_processed)
p.shutdown(60)
"""


def test_a_forked_worker_gets_its_own_analysis_process(tmp_path):
    out = subprocess.run([sys.executable, "-c", _FORKED, str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout.split()
    parent_child, forked_child, forked_records, ok, parent_records = out
    assert forked_child != parent_child and ok == "True"
    assert forked_records == "1" and parent_records == "1"   # each analysed its own
