"""OTLP request bodies -> plain attribute dicts the capture conventions read.

Runs on the request thread and does only what is cheap: parse protobuf / OTLP-JSON, check
ids, turn each span's attributes into a dict and classify it (conventions.classify). Reading
the facts and joining retrievals to answers happens on the worker (see traces.py), exactly
as for the in-process CollapseSpanProcessor. Every hostile shape (deep nesting, huge arrays,
wrong types, invalid UTF-8) becomes a bounded value or a DecodeError, never an exception
that escapes.

What the decoded spans hold is estimated as they are built (``SpanItem.cost``: the Python
objects, not the wire bytes; tiny attributes take 8x their wire size as dicts and strings)
and charged through ``charge`` every ``CHARGE_STEP`` bytes, so a request is refused while
it is being decoded once the receiver's bound is reached, not after it has been held.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from sys import getsizeof
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ..spans.conventions import chain_input, chain_output, classify, resource_labels
from ..spans.evaluations import EVENT as EVALUATION_EVENT
from ..spans.evaluations import MAX_PER_SPAN as MAX_EVALUATIONS
from ..spans.evaluations import is_evaluation
from ..spans.trace_turns import Note
from ..turns.loops import span_hit_limit

_STATUS_ERROR = 2   # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR

MAX_VALUE_DEPTH = 8          # nested kvlist / array levels kept; deeper values become None
MAX_ARRAY_ITEMS = 1024
MAX_ATTRIBUTES = 2048        # per span or resource
_HAS_IS_REMOTE = 0x100       # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200           # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
CHARGE_STEP = 256 * 1024     # decoded bytes between two charges
# The parsed message's native memory: upb keeps ~90 bytes per attribute, and an attribute has
# two field-1 tags (0x0a, the key and the string value): ~45 bytes per 0x0a byte (measured:
# 6.7x a bomb of tiny attributes, 1.5x long answers; the count also finds text newlines,
# which only overestimates). OTLP/JSON becomes Python dicts first: ~600 bytes per object.
PARSED_PER_TAG, PARSED_PER_JSON_OBJECT = 50, 600
ITEM_COST = 480              # a SpanItem, its ids, its Note, list slots (measured: ~430)


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
    cost: int = 0                # estimated bytes this item holds (the resource: once)


@dataclass(slots=True)
class Batch:
    """The spans of one request: what the worker ingests and the response reports."""

    items: list[SpanItem] = field(default_factory=list)
    spans: int = 0               # every span in the request
    answers: int = 0             # spans classified as LLM spans
    genai: int = 0               # spans classified as LLM or retriever spans
    rejected: int = 0            # spans refused (invalid ids)
    errors: list[str] = field(default_factory=list)
    reserved: int = 0            # bytes charged while decoding (the receiver takes them over)


class Overloaded(Exception):
    """The decoded request does not fit in the receiver's bound now (retry), or ever
    (``too_large``)."""

    def __init__(self, too_large: bool) -> None:
        super().__init__("too large" if too_large else "full")
        self.too_large = too_large


def deep_size(value: Any) -> int:
    """Bytes a decoded attribute value holds (str, bytes, numbers, tuples, dicts)."""
    size = getsizeof(value)
    if isinstance(value, dict):
        for key, item in value.items():
            size += getsizeof(key) + deep_size(item)
    elif isinstance(value, tuple):
        for item in value:
            size += deep_size(item)
    return size


def parse_cost(body: bytes | bytearray, json_body: bool = False) -> int:
    """Bytes parsing ``body`` takes before any span is decoded (one C-speed count)."""
    if json_body:
        return len(body) + PARSED_PER_JSON_OBJECT * body.count(b"{")
    return len(body) + PARSED_PER_TAG * body.count(b"\n")


def parse_protobuf(body: bytes | bytearray) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(cast(bytes, body))   # the stub says bytes; any buffer parses
    except (_PbDecodeError, RecursionError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf: {type(exc).__name__}") from None
    return req


def parse_json(body: bytes | bytearray) -> ExportTraceServiceRequest:
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


def batch_of(req: ExportTraceServiceRequest,
             charge: Callable[[int], None] | None = None) -> Batch:
    """Spans of the request with their attributes as dicts (GenAI spans only). ``charge(n)``
    is called as the decoded spans grow (it raises Overloaded to stop the decode); what it
    was given is in ``batch.reserved``."""
    batch = Batch()
    items = batch.items
    pending = 0
    for rs in req.resource_spans:
        resource: dict[str, Any] | None = None
        resource_cost = 0
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
                if (evals is not None or kind is not None) and resource is None:
                    # only its labels: answers may wait with it
                    resource = resource_labels(attributes(rs.resource.attributes))
                    resource_cost = deep_size(resource)
                name = span.name
                cost = ITEM_COST + getsizeof(name)
                if evals is not None:
                    cost += sum(map(deep_size, evals)) + resource_cost
                    resource_cost = 0
                if kind is None:
                    chain, output = chain_output(attrs) if attrs else (0, None)
                    asked = chain_input(attrs) if chain else None
                    limit = span.status.code == _STATUS_ERROR and \
                        span_hit_limit(attrs, span.status.message)
                    if evals is not None:
                        cost += deep_size(attrs)
                    cost += getsizeof(output) + getsizeof(asked)
                    items.append(SpanItem(trace_id, int.from_bytes(span_id, "big"), parent_id,
                                          span.end_time_unix_nano, None,
                                          attrs if evals is not None else None,
                                          resource if evals is not None else None,
                                          Note(name, chain, output, asked, limit), evals,
                                          cost))
                else:
                    batch.genai += 1
                    if kind == "llm":
                        batch.answers += 1
                    cost += deep_size(attrs) + resource_cost
                    resource_cost = 0
                    items.append(SpanItem(trace_id, int.from_bytes(span_id, "big"), parent_id,
                                          span.end_time_unix_nano, kind, attrs, resource,
                                          Note(name), evals, cost))
                pending += cost
                if charge is not None and pending >= CHARGE_STEP:
                    charge(pending)
                    batch.reserved += pending
                    pending = 0
    if charge is not None and pending:
        charge(pending)
        batch.reserved += pending
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


