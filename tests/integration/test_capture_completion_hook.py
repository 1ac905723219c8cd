"""The util-genai completion hook, driven by the real opentelemetry-util-genai."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collapse_otel.capture.completion_hook import CollapseCompletionHook
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from tests.support.capture import make_pipeline
from tests.support.requires import IN_CI
from tests.support.waiting import run_watched

try:
    from opentelemetry.util.genai.handler import TelemetryHandler
    from opentelemetry.util.genai.types import InputMessage, OutputMessage, Text
except ImportError:  # pragma: no cover - optional dependency
    if IN_CI:
        raise
    pytest.skip("opentelemetry-util-genai not installed (pip install opentelemetry-util-genai)",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]


def inference(handler, answer="hi there", tokens=(5, 2), operation=None):
    with handler.inference("openai", request_model="gpt-4o", operation_name=operation) as inv:
        inv.input_messages = [InputMessage(role="user", parts=[Text(content="hello?")])]
        inv.output_messages = [OutputMessage(role="assistant", parts=[Text(content=answer)],
                                             finish_reason="stop")]
        if tokens:
            inv.input_tokens, inv.output_tokens = tokens


def test_hook_captures_text_tokens_and_model_without_content_on_spans():
    p, agg = make_pipeline()
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "chat",
                                                  "service.version": "4.1"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))  # must not double count
    handler = TelemetryHandler(tracer_provider=tp, completion_hook=CollapseCompletionHook(
        cohort="beta", pipeline=p))
    inference(handler, "the secret answer")
    inference(handler, "no usage reported here", tokens=None)
    assert p.flush(5)
    a, b = agg.records
    assert (a.answer, a.prompt_tokens, a.completion_tokens, a.model) == \
        ("the secret answer", 5, 2, "gpt-4o")
    assert (a.service, a.release, a.cohort) == ("chat", "4.1", "beta")
    assert b.tokens_estimated and b.completion_tokens > 0 and b.prompt_tokens > 0
    spans = exporter.get_finished_spans()
    assert all(s.attributes["collapse.captured"] is True for s in spans)
    assert all("the secret answer" not in json.dumps(dict(s.attributes)) for s in spans)


def test_hook_errors_never_reach_the_instrumentation():
    p, agg = make_pipeline()
    handler = TelemetryHandler(tracer_provider=TracerProvider(),
                               completion_hook=CollapseCompletionHook(pipeline=p))
    with handler.inference("openai") as inv:
        inv.output_messages = [OutputMessage(role="assistant", parts=[object()],  # type: ignore
                                             finish_reason="stop")]
        inv.input_messages = "not a list"  # type: ignore[assignment]
    assert p.flush(5)
    assert sum(p.stats().dropped.values()) + len(agg.records) == 1


def test_entry_point_loaded_by_name(tmp_path):
    """``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK=collapse`` through the real loader.

    The entry point is declared by a throwaway dist-info on PYTHONPATH (the same line the
    package's pyproject declares), so the loader path is exercised end to end."""
    dist = tmp_path / "collapse_hook_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: collapse-hook-probe\n"
                                   "Version: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[opentelemetry_genai_completion_hook]\n"
        "collapse = collapse_otel.capture.completion_hook:CollapseCompletionHook\n")
    script = textwrap.dedent("""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.util.genai.completion_hook import load_completion_hook
        from opentelemetry.util.genai.handler import TelemetryHandler
        from opentelemetry.util.genai.types import OutputMessage, Text
        import collapse_otel.capture as capture
        hook = load_completion_hook()
        handler = TelemetryHandler(tracer_provider=TracerProvider(), completion_hook=hook)
        with handler.inference("openai", request_model="m") as inv:
            inv.output_messages = [OutputMessage(role="assistant",
                                   parts=[Text(content="from the entry point")],
                                   finish_reason="stop")]
            inv.input_tokens, inv.output_tokens = 3, 4
        assert capture.flush(5)
        (s,) = capture.get_pipeline().aggregator.snapshot().streams
        print(type(hook).__name__, s.key.release, s.answers_total, s.tokens_total["completion"])
    """)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK": "collapse",
           "COLLAPSE_OTEL_RELEASE": "ep-1"}
    out = run_watched([sys.executable, "-c", script], env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["_SafeCompletionHook", "ep-1", "1", "4"]
