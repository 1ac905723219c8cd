"""Reading GenAI spans of every convention real instrumentations emit.

Pure functions over attribute mappings, with no SDK objects, so the span processor and the
OTLP receiver share them. First match wins, in the order the design lists. Attribute values
may have any type (a bad instrumentation, a hostile payload): readers coerce or skip, never
raise on type, and bound how much they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..records.outcomes import MAX_REF_CHARS, response_ref, trace_ref
from ..text.token_estimate import estimate_tokens
from ..turns.loops import call_hash
from .build import as_count, as_label, as_text, first_label
from .jsonvalue import json_value as _json
from .questions import llm_span_question
from .retrievals import retrieval_ids

LLM = "llm"
RETRIEVER = "retriever"
TOOL = "tool"          # an executed tool call (gen_ai execute_tool, OpenInference TOOL)

MAX_MESSAGES = 32

_KIND_KEYS = ("openinference.span.kind", "fi.span.kind", "gen_ai.span.kind")
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
_RETRIEVER_OPERATIONS = frozenset({"retrieval", "retrieve", "vector_db_retrieve"})
_LLM_HINT_KEYS = (
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "llm.token_count.completion",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.output.messages",
    "llm.output_messages.0.message.content", "gen_ai.completion.0.content",
)
_RETRIEVER_HINT_KEYS = (
    "gen_ai.retrieval.documents", "retrieval.documents.0.document.id",
    "retrieval.documents.0.document.content", "retrieval.documents.0.document.metadata",
)

PROMPT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "llm.token_count.prompt",
                     "gen_ai.usage.prompt_tokens")
COMPLETION_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "llm.token_count.completion",
                         "gen_ai.usage.completion_tokens")
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")


@dataclass(frozen=True, slots=True)
class SpanFacts:
    """What one span says about an answer or a retrieval (labels None when absent)."""

    kind: str                       # LLM | RETRIEVER | TOOL
    answer: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_chars: int = 0           # length of prompt text seen, for token estimates
    model: str | None = None
    context_ids: tuple[str, ...] = ()
    release: str | None = None      # span-level (collapse.release, run metadata)
    cohort: str | None = None
    captured: bool = False          # collapse-otel already captured this answer itself
    completion_estimated: bool = False  # completion_tokens estimated from the uncut answer
    service: str | None = None
    tool_call: bool = False         # a tool-call step: tool calls and no text
    tags: tuple[str, ...] = ()      # the run's tags (OpenInference tag.tags), for the filters
    question: str | None = None     # the last user message on the span
    refs: tuple[str, ...] = ()      # what feedback can name the answer by (with_refs)
    response_id: str | None = None  # gen_ai.response.id
    tool_hash: int = 0              # TOOL: xxh3 of its name and arguments (loops.call_hash)


def capped(facts: SpanFacts, max_chars: int) -> SpanFacts:
    """The facts with the answer cut to ``max_chars`` + 1 characters before they wait in a
    trace buffer, so a held answer costs what an analysed one does. The record is the same as
    from the whole answer: make_record cuts there too (the extra character shows the answer
    was longer), and a missing completion count is estimated from the whole answer first."""
    text = facts.answer
    if text is None or len(text) <= max_chars + 1:
        return facts
    completion, estimated = facts.completion_tokens, facts.completion_estimated
    if completion is None:
        completion, estimated = estimate_tokens(text), True
    return replace(facts, answer=text[:max_chars + 1], completion_tokens=completion,
                   completion_estimated=estimated)


def classify(attributes: Mapping[str, Any]) -> str | None:
    """LLM, RETRIEVER, TOOL or None, reading as few attributes as possible."""
    get = attributes.get
    for key in _KIND_KEYS:
        kind = get(key)
        if kind is not None:
            kind = str(kind).upper()
            if kind == "LLM":
                return LLM
            if kind == "RETRIEVER":
                return RETRIEVER
            if kind == "TOOL":
                return TOOL
            return None
    op = get("gen_ai.operation.name")
    if isinstance(op, str):
        if op in LLM_OPERATIONS:
            return LLM
        if op in _RETRIEVER_OPERATIONS:
            return RETRIEVER
        if op == "execute_tool":
            return TOOL
    req = get("llm.request.type")  # legacy OpenLLMetry
    if req in ("chat", "completion"):
        return LLM
    for key in _LLM_HINT_KEYS:
        if get(key) is not None:
            return LLM
    for key in _RETRIEVER_HINT_KEYS:
        if get(key) is not None:
            return RETRIEVER
    return None


def extract(attributes: Mapping[str, Any], kind: str | None = None) -> SpanFacts | None:
    """Facts of one finished span, or None when it is neither an LLM, a retriever nor a tool
    span."""
    kind = kind or classify(attributes)
    if kind == LLM:
        return _llm_facts(attributes)
    if kind == TOOL:   # only the hash of what was called (never exported)
        get = attributes.get
        name = get("gen_ai.tool.name") or get("tool.name")
        arguments = get("gen_ai.tool.call.arguments")
        if arguments is None:
            arguments = get("input.value")
        return SpanFacts(TOOL, tool_hash=call_hash(name, arguments))
    if kind == RETRIEVER:
        return SpanFacts(RETRIEVER, context_ids=retrieval_ids(attributes),
                         release=_span_label(attributes, "release"),
                         cohort=_span_label(attributes, "cohort"),
                         captured=attributes.get("collapse.captured") is True)
    return None


_RESOURCE_LABEL_KEYS = ("service.name", "service.version", "langfuse.release")


def resource_labels(resource: Mapping[str, Any] | None) -> dict[str, str]:
    """Only the resource attributes records read, as labels: what a waiting span keeps of its
    resource (whose other attributes may be large) reads the same in resource_release and
    resource_service as the whole resource."""
    if not resource:
        return {}
    return {key: label for key in _RESOURCE_LABEL_KEYS
            if (label := as_label(resource.get(key))) is not None}


def resource_release(resource: Mapping[str, Any] | None) -> str | None:
    if not resource:
        return None
    return first_label(resource.get("service.version"), resource.get("langfuse.release"))


def resource_service(resource: Mapping[str, Any] | None) -> str | None:
    name = as_label(resource.get("service.name")) if resource else None
    return None if name is None or name.startswith("unknown_service") else name


# -- LLM spans ------------------------------------------------------------------------------

def _llm_facts(a: Mapping[str, Any]) -> SpanFacts:
    get = a.get
    model = None
    for key in MODEL_KEYS:
        model = as_label(get(key))
        if model and model != "unknown":
            break
        model = None
    answer = answer_text(a)
    return SpanFacts(
        LLM,
        answer=answer,
        prompt_tokens=_first_count(a, PROMPT_TOKEN_KEYS),
        completion_tokens=_first_count(a, COMPLETION_TOKEN_KEYS),
        prompt_chars=_prompt_chars(a),
        model=model,
        context_ids=retrieval_ids(a) if get("gen_ai.retrieval.documents") is not None else (),
        release=_span_label(a, "release"),
        cohort=_span_label(a, "cohort"),
        captured=get("collapse.captured") is True,
        service=_span_label(a, "service"),
        tool_call=not answer and _has_tool_calls(a),
        tags=_tags(get("tag.tags")),
        question=llm_span_question(a),
        response_id=as_label(get("gen_ai.response.id"), MAX_REF_CHARS),
    )


def with_refs(facts: SpanFacts, trace_id: int | bytes) -> SpanFacts:
    """LLM facts with the references feedback can name the answer by: its trace id and its
    ``gen_ai.response.id`` (collapse_otel.records.outcomes)."""
    refs = tuple(r for r in (trace_ref(trace_id), response_ref(facts.response_id)) if r)
    return replace(facts, refs=refs) if refs else facts


def span_labels(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(service, release, cohort) a span names itself (collapse.*, run metadata), or None."""
    return _span_label(a, "service"), _span_label(a, "release"), _span_label(a, "cohort")


_TOOL_CALL_KEYS = ("llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                   "llm.output_messages.0.message.tool_calls.0.tool_call.id",
                   "gen_ai.completion.0.tool_calls.0.name")


def _has_tool_calls(a: Mapping[str, Any]) -> bool:
    if any(a.get(key) is not None for key in _TOOL_CALL_KEYS):
        return True
    messages = _json(a.get("gen_ai.output.messages"))
    if isinstance(messages, list):
        for msg in messages[:MAX_MESSAGES]:
            parts = msg.get("parts") if isinstance(msg, Mapping) else None
            if isinstance(parts, list) and any(
                    isinstance(p, Mapping) and p.get("type") == "tool_call" for p in parts):
                return True
    return False


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _json(value) if value.startswith("[") else [value]
    if isinstance(value, (list, tuple)):
        return tuple(t for t in value[:MAX_MESSAGES] if isinstance(t, str))
    return ()


_CHAIN_KINDS = frozenset({"CHAIN", "AGENT"})
_TRACELOOP_CHAIN_KINDS = frozenset({"workflow", "agent", "task"})
_AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent", "invoke_workflow"})
_OUTPUT_KEYS = ("output.value", "traceloop.entity.output", "gen_ai.output.messages")
_INPUT_KEYS = ("input.value", "traceloop.entity.input", "gen_ai.input.messages")


def chain_input(attributes: Mapping[str, Any]) -> Any:
    """A chain or agent span's input attribute, unparsed (the turn's question is in it)."""
    get = attributes.get
    for key in _INPUT_KEYS:
        value = get(key)
        if value is not None:
            return value
    return None


def chain_output(attributes: Mapping[str, Any]) -> tuple[int, Any]:
    """(2: the span of a LangChain root run (OpenLLMetry workflow), 1: a chain or agent span,
    0: neither; its output attribute or None): what a user turn's top span is recognised by and
    what it returned. A few lookups, no parsing (host thread)."""
    get = attributes.get
    kind = get("openinference.span.kind") or get("fi.span.kind")
    if kind is not None:
        chain = 1 if str(kind).upper() in _CHAIN_KINDS else 0
    else:
        traceloop = get("traceloop.span.kind")
        chain = 2 if traceloop == "workflow" else 1 if (
            traceloop in _TRACELOOP_CHAIN_KINDS or
            get("gen_ai.operation.name") in _AGENT_OPERATIONS) else 0
    if not chain:
        return 0, None
    for key in _OUTPUT_KEYS:
        value = get(key)
        if value is not None:
            return chain, value
    return chain, None


def _first_count(a: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        n = as_count(a.get(key))
        if n is not None:
            return n
    return None


def answer_text(a: Mapping[str, Any]) -> str | None:
    """The answer text, or None when the span carries none (content capture off)."""
    get = a.get
    text = _messages_text(_json(get("gen_ai.output.messages")), first_only=True)
    if text is not None:
        return text
    text = _indexed_message_text(a, "llm.output_messages", first_only=True)
    if text is not None:
        return text
    text = _output_value_text(get("output.value"), get("output.mime_type"))
    if text is not None:
        return text
    return as_text(get("gen_ai.completion.0.content"))


def _messages_text(messages: Any, first_only: bool) -> str | None:
    texts = _messages_texts(messages, first_only)
    return "\n".join(texts) if texts else None


def _messages_texts(messages: Any, first_only: bool) -> list[str]:
    """Text parts of OTel GenAI JSON messages ``[{role, parts: [{type, content}]}]``."""
    texts: list[str] = []
    if not isinstance(messages, list):
        return texts
    for msg in messages[:MAX_MESSAGES]:
        if not isinstance(msg, Mapping):
            continue
        parts = msg.get("parts")
        if isinstance(parts, list):
            texts.extend(t for p in parts if isinstance(p, Mapping) and p.get("type", "text") == "text"
                         and (t := as_text(p.get("content"))) is not None)
        elif (t := as_text(msg.get("content"))) is not None:
            texts.append(t)
        if first_only and texts:
            break
    return texts


def _indexed_message_text(a: Mapping[str, Any], prefix: str, first_only: bool) -> str | None:
    texts = _indexed_message_texts(a, prefix, first_only)
    return "\n".join(texts) if texts else None


def _indexed_message_texts(a: Mapping[str, Any], prefix: str, first_only: bool) -> list[str]:
    """OpenInference flattened messages: ``{prefix}.{i}.message.content`` or ``.contents``."""
    texts: list[str] = []
    for i in range(MAX_MESSAGES):
        base = f"{prefix}.{i}.message"
        content = as_text(a.get(f"{base}.content"))
        if content is not None:
            texts.append(content)
        else:
            parts = [t for j in range(MAX_MESSAGES)
                     if (t := as_text(a.get(f"{base}.contents.{j}.message_content.text"))) is not None]
            if not parts and a.get(f"{base}.role") is None:
                break
            if parts:
                texts.append("\n".join(parts))
        if first_only and texts:
            break
    return texts


def _output_value_text(value: Any, mime: Any) -> str | None:
    text = as_text(value)
    if text is None:
        return None
    if mime != "application/json":
        return text
    data = _json(text)
    # LangChain LLM output serialised by OpenInference: {"generations": [[{"text": ...}]]}
    if isinstance(data, Mapping):
        gens = data.get("generations")
        if isinstance(gens, list) and gens and isinstance(gens[0], list) and gens[0]:
            first = gens[0][0]
            if isinstance(first, Mapping):
                return as_text(first.get("text"))
    return None


def _prompt_chars(a: Mapping[str, Any]) -> int:
    """Characters of prompt text on the span (for a token estimate when usage is missing)."""
    n = 0
    for key in ("gen_ai.input.messages", "gen_ai.system_instructions"):
        value = a.get(key)
        if value is not None:
            n += sum(len(t) for t in _messages_texts(_json(value), first_only=False))
    if n:
        return n
    n = sum(len(t) for t in _indexed_message_texts(a, "llm.input_messages", first_only=False))
    if n:
        return n
    for i in range(MAX_MESSAGES):
        t = as_text(a.get(f"gen_ai.prompt.{i}.content"))
        if t is None:
            break
        n += len(t)
    return n


# -- labels -----------------------------------------------------------------------------

def _span_label(a: Mapping[str, Any], name: str) -> str | None:
    """collapse.<name>, else LangChain run metadata carried by the instrumentation."""
    label = as_label(a.get(f"collapse.{name}"))
    if label:
        return label
    label = as_label(a.get(f"traceloop.association.properties.{name}"))
    if label:
        return label
    meta = a.get("metadata")  # OpenInference: LangChain run metadata as JSON
    if isinstance(meta, str) and f'"{name}"' in meta:
        data = _json(meta)
        if isinstance(data, Mapping):
            return as_label(data.get(name))
    if name == "release":
        return as_label(a.get("langfuse.release"))
    return None
