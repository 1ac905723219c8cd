"""OTLP request bodies -> plain attribute dicts the capture conventions read.

Runs on the request thread and does only what is cheap: parse protobuf / OTLP-JSON, check
ids, turn each span's attributes into a dict and classify it (conventions.classify). Reading
the facts and joining retrievals to answers happens on the worker (see traces.py), exactly
as for the in-process CollapseSpanProcessor. Every hostile shape (deep nesting, huge arrays,
wrong types, invalid UTF-8) becomes a bounded value or a DecodeError, never an exception
that escapes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..spans.conventions import chain_input, chain_output, classify, resource_labels
from ..spans.evaluations import EVENT as EVALUATION_EVENT
from ..spans.evaluations import MAX_PER_SPAN as MAX_EVALUATIONS
from ..spans.evaluations import is_evaluation
from ..spans.trace_turns import Note

MAX_VALUE_DEPTH = 8          # nested kvlist / array levels kept; deeper values become None
MAX_ARRAY_ITEMS = 1024
MAX_ATTRIBUTES = 2048        # per span or resource
_HAS_IS_REMOTE = 0x100       # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200           # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class DecodeError(ValueError):
    """The body is not a valid ExportTraceServiceRequest (HTTP 400 / gRPC INVALID_ARGUMENT)."""


@dataclass(slots=True)
class SpanItem:
    """One span as the worker needs it. ``attrs`` only for GenAI spans (kind not None);
    ``note`` (name, chain span or not, its output) for the turns of the trace."""

    trace_id: bytes
    span_id: int
    parent_id: int | None        # None at the local root (no parent, or a remote parent)
    end_time: int
    kind: str | None
    attrs: dict[str, Any] | None
    resource: dict[str, Any] | None
    note: Note | None = None
    evaluations: list[dict[str, Any]] | None = None   # gen_ai.evaluation.result attributes


@dataclass(slots=True)
class Batch:
    """The spans of one request: what the worker ingests and the response reports."""

    items: list[SpanItem] = field(default_factory=list)
    spans: int = 0               # every span in the request
    answers: int = 0             # spans classified as LLM spans
    genai: int = 0               # spans classified as LLM or retriever spans
    rejected: int = 0            # spans refused (invalid ids)
    errors: list[str] = field(default_factory=list)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except (_PbDecodeError, RecursionError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf: {type(exc).__name__}") from None
    return req


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: lowerCamelCase (original names accepted too), ids as hex, enums as ints."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise DecodeError("the JSON body is not an object")
        _hex_ids_to_base64(data)
        req = ExportTraceServiceRequest()
        json_format.ParseDict(data, req, ignore_unknown_fields=True)
    except DecodeError:
        raise
    except (ValueError, TypeError, RecursionError, json_format.ParseError, AttributeError) as exc:
        raise DecodeError(f"invalid OTLP/JSON: {type(exc).__name__}") from None
    return req


def _hex_ids_to_base64(data: dict) -> None:
    """OTLP/JSON carries trace and span ids as hex; protobuf's JSON mapping expects base64."""
    for rs in _list(data.get("resourceSpans", data.get("resource_spans"))):
        for ss in _list(_get(rs, "scopeSpans", "scope_spans")):
            for span in _list(_get(ss, "spans")):
                if not isinstance(span, dict):
                    continue
                _fix_ids(span)
                for link in _list(span.get("links")):
                    if isinstance(link, dict):
                        _fix_ids(link)


def _fix_ids(obj: dict) -> None:
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise DecodeError(f"{key} is not hex") from None


def _get(obj: Any, *keys: str) -> Any:
    if not isinstance(obj, dict):
        return None
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def batch_of(req: ExportTraceServiceRequest) -> Batch:
    """Spans of the request with their attributes as dicts (GenAI spans only)."""
    batch = Batch()
    items = batch.items
    for rs in req.resource_spans:
        resource: dict[str, Any] | None = None
        for ss in rs.scope_spans:
            for span in ss.spans:
                batch.spans += 1
                trace_id, span_id = span.trace_id, span.span_id
                if len(trace_id) != 16 or len(span_id) != 8 or not any(trace_id) \
                        or not any(span_id):
                    batch.rejected += 1
                    continue
                parent = span.parent_span_id
                remote = (span.flags & _HAS_IS_REMOTE) and (span.flags & _IS_REMOTE)
                parent_id = int.from_bytes(parent, "big") if len(parent) == 8 and not remote \
                    else None
                attrs = attributes(span.attributes)
                kind = classify(attrs) if attrs else None
                evals = _evaluations(span, attrs)
                if evals is not None and resource is None:
                    resource = resource_labels(attributes(rs.resource.attributes))
                if kind is None:
                    chain, output = chain_output(attrs) if attrs else (0, None)
                    asked = chain_input(attrs) if chain else None
                    items.append(SpanItem(trace_id, int.from_bytes(span_id, "big"), parent_id,
                                          span.end_time_unix_nano, None,
                                          attrs if evals is not None else None,
                                          resource if evals is not None else None,
                                          Note(span.name, chain, output, asked), evals))
                    continue
                if resource is None:   # only its labels: answers may wait with it
                    resource = resource_labels(attributes(rs.resource.attributes))
                batch.genai += 1
                if kind == "llm":
                    batch.answers += 1
                items.append(SpanItem(trace_id, int.from_bytes(span_id, "big"), parent_id,
                                      span.end_time_unix_nano, kind, attrs, resource,
                                      Note(span.name), evals))
    if batch.rejected:
        batch.errors.append(f"{batch.rejected} span(s) with an invalid trace_id or span_id")
    return batch


def _evaluations(span: Any, attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Evaluation results on the span: its ``gen_ai.evaluation.result`` events, and the span
    itself when it carries one (a zero-duration evaluation span); None when it has none."""
    found = [attributes(ev.attributes) for ev in span.events if ev.name == EVALUATION_EVENT]
    if is_evaluation(attrs):
        found.append(attrs)
    return found[:MAX_EVALUATIONS] if found else None


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, kv in enumerate(kvs):
        if i >= MAX_ATTRIBUTES:
            break
        value = any_value(kv.value, 0)
        if value is not None:
            out[kv.key] = value
    return out


def any_value(v: Any, depth: int) -> Any:
    """AnyValue -> str | bool | int | float | bytes | tuple | dict | None (bounded)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "bytes_value":
        return v.bytes_value
    if depth >= MAX_VALUE_DEPTH:
        return None
    if which == "array_value":
        values = v.array_value.values
        return tuple(any_value(x, depth + 1) for x in values[:MAX_ARRAY_ITEMS])
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1)
                for kv in v.kvlist_value.values[:MAX_ARRAY_ITEMS]}
    return None


