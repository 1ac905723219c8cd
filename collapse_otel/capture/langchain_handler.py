"""CollapseCallbackHandler: one AnswerRecord per user turn of a LangChain run tree.

The handler keeps a bounded map of run -> parent run, so that an LLM generation finds the
documents retrieved earlier in the same run tree (a RAG chain, a LangGraph graph) and the
root run (the user turn) it belongs to. A turn's LLM outputs wait until its root run ends; then
the one whose text the root returned (else the last) is the answer and the others (query
rewriters, routers, judges, tool-call steps) are intermediate calls (collapse_otel.turns). An
LLM run the handler sees without its parent (the handler was given to the model only) is a turn
of its own. The root run's input gives the turn's question (hashed by the worker). Per root run
it also keeps the loop evidence of an agent turn (LLM outputs, tool calls with their arguments
hashed, a recursion limit; turn_loops.py), judged by the worker when the turn ends. It does no
text analysis: it reads what LangChain hands it, builds records and queues them. Every callback
body is guarded, so nothing raises into the user's chain.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from .. import forksafe
from ..records import AnswerRecord
from ..spans.build import QUESTION_CAPTURE_CHARS, as_text, document_id, first_label, make_record
from ..spans.questions import question_of
from ..turns.answers import TurnPolicy, output_strings, pick_answer, policy_of
from ..turns.loops import is_limit_error
from ..worker.health import CAPTURE_ERROR
from ..worker.pipeline import Pipeline, get_pipeline
from .langchain_parts import (
    HandlerSpans,
    answer_refs,
    content_chars,
    llm_output_usage,
    message_usage,
    names_of,
    response_model,
)
from .turn_loops import LoopWatch


def _key(run_id: Any) -> Any:
    """A run id as the handler's maps key it: the UUID's int (a UUID hashes in Python code,
    about 20 times per turn; an int in C), anything else as it is."""
    return run_id.int if type(run_id) is UUID else run_id


def _intermediate(record: AnswerRecord) -> AnswerRecord:
    """``record`` marked as an intermediate call (dataclasses.replace is several times
    slower: it reads the fields one by one through Python code; twice per agent turn)."""
    values: list[Any] = list(_record_fields(record))
    values[_INTERMEDIATE] = True
    return AnswerRecord(*values)


_FIELDS = [f.name for f in fields(AnswerRecord)]
_INTERMEDIATE = _FIELDS.index("intermediate")
_record_fields = attrgetter(*_FIELDS)


MAX_CONTEXT_IDS_PER_ROOT = 256
MAX_CALLS_PER_TURN = 256
MAX_DEPTH = 64
SOURCE = "langchain"


class _LLMRun:
    __slots__ = ("model", "prompt_chars", "release", "cohort", "service", "span", "eligible",
                 "own_turn", "asked")

    def __init__(self, model: str | None, prompt_chars: list[int], metadata: Mapping[str, Any],
                 span: Any, eligible: bool, own_turn: bool, asked: Any = None) -> None:
        self.model = model
        self.prompt_chars = prompt_chars
        self.release = metadata.get("release")
        self.cohort = metadata.get("cohort")
        self.service = metadata.get("service")
        self.span = span
        self.eligible = eligible      # the answer filters allow it to be the answer
        self.own_turn = own_turn      # the handler does not see its parent run
        self.asked = asked            # its messages or prompt (the question of its own turn)


class CollapseCallbackHandler(BaseCallbackHandler):
    """Add to ``callbacks=[...]`` (or let :func:`collapse_otel.instrument` inject it).

    ``release`` / ``cohort`` / ``service`` win over run metadata keys of the same name, which
    win over COLLAPSE_OTEL_* env vars and the defaults.
    """

    run_inline = True   # cheap and non-blocking: no thread-pool hop in async chains
    raise_error = False
    # events it has no use for: LangChain then skips the call (tool runs come under
    # ignore_agent, so that one stays False)
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self, release: str | None = None, cohort: str | None = None,
                 service: str | None = None, pipeline: Pipeline | None = None,
                 tracer_provider: Any = None, *, emit_spans: bool = True,
                 max_runs: int = 10_000) -> None:
        super().__init__()
        self.release, self.cohort, self.service = release, cohort, service
        self._pipeline = pipeline
        self._spans = HandlerSpans(tracer_provider, emit_spans)
        self._max_runs = max_runs
        self._lock = forksafe.Lock()
        self._parents: OrderedDict[UUID, UUID | None] = OrderedDict()
        self._names: dict[UUID, tuple[str, ...]] = {}   # only while answer filters are set
        self._llm: dict[UUID, _LLMRun] = {}
        self._retrievers: dict[UUID, Any] = {}
        self._context: OrderedDict[UUID, list[str]] = OrderedDict()
        self._turns: OrderedDict[UUID, list[tuple[AnswerRecord, bool]]] = OrderedDict()
        self._questions: OrderedDict[UUID, str] = OrderedDict()   # root run -> its question
        self._policy_cache: tuple[Any, TurnPolicy] = (None, TurnPolicy())
        self._filtering = False   # the cached policy has answer filters
        self._direct_to: Pipeline | None = None
        self._loops = LoopWatch(max_runs)

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline if self._pipeline is not None else get_pipeline()

    def _policy(self, pipeline: Pipeline | None = None) -> TurnPolicy:
        config = (pipeline or self.pipeline).config
        cached = self._policy_cache
        if cached[0] is not config:
            cached = self._policy_cache = (config, policy_of(config))
            self._filtering = bool(cached[1].filters)
        return cached[1]

    def _fail(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.pipeline.report_error(CAPTURE_ERROR, exc)

    # -- run tree ---------------------------------------------------------------------------

    def _start(self, run_id: UUID, parent_run_id: UUID | None, serialized: Any = None,
               kwargs: Mapping[str, Any] | None = None, policy: TurnPolicy | None = None) -> None:
        closed = None
        names = names_of(serialized, kwargs or {}) if policy is not None and policy.filters \
            else None
        with self._lock:
            parents = self._parents
            parents[run_id] = parent_run_id
            if names:
                self._names[run_id] = names
            if len(parents) > self._max_runs:
                old, _ = parents.popitem(last=False)
                self._llm.pop(old, None)
                self._names.pop(old, None)
                span = self._retrievers.pop(old, None)
                if span is not None:
                    span.end()
            if len(self._turns) > self._max_runs:
                closed = self._turns.popitem(last=False)[1]   # a root run that never ended
        if closed:
            self._submit_turn(closed, None)

    def _step(self, run_id: UUID, parent_run_id: UUID) -> None:
        """``_start`` of a run inside a turn while no answer filters are set: the common
        case, without the bookkeeping only a full map needs."""
        parents = self._parents
        with self._lock:
            parents[run_id] = parent_run_id
            if len(parents) <= self._max_runs and len(self._turns) <= self._max_runs:
                return
        self._start(run_id, parent_run_id)

    def _root(self, run_id: UUID) -> UUID:
        parents, rid = self._parents, run_id
        for _ in range(MAX_DEPTH):
            parent = parents.get(rid)
            if parent is None:
                return rid
            rid = parent
        return rid

    def _lineage_names(self, run_id: UUID | None) -> list[str]:
        names: list[str] = []
        rid = run_id
        for _ in range(MAX_DEPTH):
            if rid is None:
                break
            names.extend(self._names.get(rid, ()))
            rid = self._parents.get(rid)
        return names

    def _end(self, run_id: UUID, parent_run_id: UUID | None, outputs: Any = None) -> None:
        turn = None
        with self._lock:
            self._parents.pop(run_id, None)
            if self._names:
                self._names.pop(run_id, None)
            if parent_run_id is None:
                self._context.pop(run_id, None)
                self._questions.pop(run_id, None)
                turn = self._turns.pop(run_id, None)
        if turn:
            self._submit_turn(turn, outputs)
        if parent_run_id is None:
            self._finish_loops(run_id, turn)

    def _finish_loops(self, root: UUID, turn: list[tuple[AnswerRecord, bool]] | None) -> None:
        """Queue the loop judgement of an ended turn, in its answers' stream."""
        if turn:
            first = turn[0][0]
            labels: tuple[str | None, ...] = (first.service, first.release, first.cohort)
        else:
            labels = (self.service, self.release, self.cohort)
        self._loops.finish(root, self.pipeline, labels)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:   # the config (and so the answer filters) is looked up once per root run
            if parent_run_id is not None and not self._filtering:
                # a step inside a turn (most chain runs): only its place in the run tree
                rid: Any = run_id.int if type(run_id) is UUID else run_id
                parent: Any = parent_run_id.int if type(parent_run_id) is UUID else parent_run_id
                self._step(rid, parent)
                return
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            policy = self._policy() if parent_run_id is None else self._policy_cache[1]
            self._start(run_id, parent_run_id, serialized, kwargs, policy)
            if parent_run_id is None:
                self._ask(run_id, question_of(inputs))
        except Exception as exc:
            self._fail(exc)

    def on_tool_start(self, serialized: Any, input_str: Any, *, run_id: UUID,
                      parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            self._start(run_id, parent_run_id, serialized, kwargs, self._policy_cache[1])
            with self._lock:
                root = self._root(run_id)
            if root != run_id:
                name = kwargs.get("name") or (serialized or {}).get("name")
                arguments = kwargs.get("inputs")
                self._loops.tool(root, name, input_str if arguments is None else arguments,
                                 self.pipeline)
        except Exception as exc:
            self._fail(exc)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                     **kwargs: Any) -> None:
        try:
            if parent_run_id is not None:   # a step inside a turn: leaves the run tree
                rid: Any = run_id.int if type(run_id) is UUID else run_id
                with self._lock:
                    self._parents.pop(rid, None)
                    if self._names:
                        self._names.pop(rid, None)
                return
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            self._end(run_id, parent_run_id, outputs)
        except Exception as exc:
            self._fail(exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:   # a turn cut by a retry or step limit (LangGraph's GraphRecursionError)
            if parent_run_id is None and is_limit_error(error):
                self._loops.limit(_key(run_id), self.pipeline)
        except Exception as exc:
            self._fail(exc)
        self.on_chain_end(None, run_id=run_id, parent_run_id=parent_run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                    **kwargs: Any) -> None:
        self.on_chain_end(output, run_id=run_id, parent_run_id=parent_run_id, **kwargs)

    def on_tool_error(self, error: BaseException, *, run_id: UUID,
                      parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.on_chain_end(None, run_id=run_id, parent_run_id=parent_run_id)

    # -- turns --------------------------------------------------------------------------------

    def _ask(self, root: UUID, question: str | None) -> None:
        if question is None:
            return
        question = question[: 2 * QUESTION_CAPTURE_CHARS]   # held per open run: only its head
        with self._lock:
            self._questions[root] = question
            if len(self._questions) > self._max_runs:
                self._questions.popitem(last=False)

    def _question(self, run: _LLMRun | None, root: UUID | None) -> str | None:
        """The turn's question: the root run's input, else the own turn's last user message."""
        if root is not None:
            found = self._questions.get(root)
            if found is not None:
                return found
        if run is not None and run.own_turn and run.asked is not None:
            return question_of(run.asked)
        return None

    def _submit_turn(self, calls: list[tuple[AnswerRecord, bool]], outputs: Any) -> None:
        """The turn's answer, and its other LLM calls as intermediate ones."""
        if len(calls) == 1:   # the usual chain: one LLM call
            record, ok = calls[0]
            self.pipeline.submit(record if ok else _intermediate(record))
            return
        eligible = [i for i, (_, ok) in enumerate(calls) if ok]
        texts = [calls[i][0].answer for i in eligible]
        found = None
        if outputs is not None and len(eligible) > 1:
            found = output_strings(outputs, {t.strip() for t in texts if t})
        k = pick_answer(texts, found)
        answer = eligible[k] if k is not None else -1
        pipeline = self.pipeline
        for i, (record, _) in enumerate(calls):
            pipeline.submit(record if i == answer else _intermediate(record))

    def _route(self, record: AnswerRecord, eligible: bool, run: _LLMRun | None,
               root: UUID | None) -> None:
        if root is None or run is None or run.own_turn or self._policy_cache[1].every_call:
            self.pipeline.submit(record if eligible else _intermediate(record))
            return
        overflow = None
        with self._lock:
            calls = self._turns.get(root)
            if calls is None:
                calls = self._turns[root] = []
            calls.append((record, eligible))
            if len(calls) > MAX_CALLS_PER_TURN:
                overflow = calls.pop(0)[0]
        if overflow is not None:
            self.pipeline.submit(_intermediate(overflow))

    # -- LLM runs -------------------------------------------------------------------------

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None,
                            metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            chars = [sum(content_chars(getattr(m, "content", None)) for m in msgs)
                     for msgs in messages]
            self._llm_start(serialized, chars, run_id, parent_run_id, metadata, kwargs, "chat",
                            messages[0] if len(messages) == 1 else None)
        except Exception as exc:
            self._fail(exc)

    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None,
                     metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            chars = [len(p) if isinstance(p, str) else 0 for p in prompts]
            self._llm_start(serialized, chars, run_id, parent_run_id, metadata, kwargs,
                            "text_completion", prompts[0] if len(prompts) == 1 else None)
        except Exception as exc:
            self._fail(exc)

    def _llm_start(self, serialized: Any, chars: list[int], run_id: UUID,
                   parent_run_id: UUID | None, metadata: Mapping[str, Any] | None,
                   kwargs: Mapping[str, Any], operation: str, asked: Any = None) -> None:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        model = first_label(metadata.get("ls_model_name"), params.get("model"),
                            params.get("model_name"))
        span = self._spans.start_llm(operation, model, metadata)
        pipeline = self.pipeline
        if self._direct_to is not pipeline:   # later, the worker sees our records arrive
            pipeline.expect_direct()
            self._direct_to = pipeline
        policy = self._policy(pipeline)
        own_turn = parent_run_id is None or parent_run_id not in self._parents
        eligible = True
        if policy.filters:
            with self._lock:
                eligible = policy.eligible([*names_of(serialized, kwargs),
                                            *self._lineage_names(parent_run_id)])
        self._start(run_id, parent_run_id)
        self._llm[run_id] = _LLMRun(model, chars, metadata, span, eligible, own_turn, asked)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                   **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            run = self._llm.pop(run_id, None)
            with self._lock:
                root = self._root(run_id)
                ids = tuple(self._context.get(root, ()))
            self._end(run_id, parent_run_id)
            self._llm_end(response, run, ids, None if parent_run_id is None else root,
                          answer_refs(root, run_id, run and run.span))
        except Exception as exc:
            self._fail(exc)

    def _llm_end(self, response: Any, run: _LLMRun | None, ids: tuple[str, ...],
                 root: UUID | None, refs: tuple[str, ...] = ()) -> None:
        generations = getattr(response, "generations", None) or []
        llm_output = getattr(response, "llm_output", None) or {}
        usage = None   # read only when the message carries no usage of its own
        config = self.pipeline.config
        question = self._question(run, root) if len(generations) == 1 else None
        for i, gens in enumerate(generations):
            if not gens:
                continue
            gen = gens[0]
            message = getattr(gen, "message", None)
            text = as_text(getattr(gen, "text", None))
            tool_step = message is not None and bool(getattr(message, "tool_calls", None)) \
                and not text
            if tool_step:
                text = None  # a tool-call step, never the answer: its tokens count apart
            prompt, completion = message_usage(message)
            if prompt is None and completion is None:
                if usage is None:
                    usage = llm_output_usage(llm_output) if len(generations) == 1 \
                        else (None, None)
                prompt, completion = usage
            chars = run.prompt_chars[i] if run is not None and i < len(run.prompt_chars) else 0
            model = first_label(response_model(message, llm_output), run and run.model)
            record = make_record(
                config, text, prompt_tokens=prompt, completion_tokens=completion,
                context_ids=ids, model=model,
                service=first_label(self.service, run and run.service),
                release=first_label(self.release, run and run.release),
                cohort=first_label(self.cohort, run and run.cohort),
                timestamp=time.time(), prompt_chars=chars, source=SOURCE, question=question,
                refs=refs)
            eligible = not tool_step and (run is None or run.eligible)
            if i == 0 and root is not None:
                self._loops.output(root, text, self.pipeline)
            self._route(record, eligible, run, root)
            if i == 0 and run is not None and run.span is not None:
                self._spans.finish_llm(run.span, record, text, config.capture_message_content)
        if run is not None and run.span is not None and not generations:
            run.span.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID,
                     parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            run = self._llm.pop(run_id, None)
            self._end(run_id, parent_run_id)
            if run is not None:
                self._spans.fail(run.span, error)
        except Exception as exc:
            self._fail(exc)

    # -- retriever runs -------------------------------------------------------------------

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            self._start(run_id, parent_run_id, serialized, kwargs, self._policy_cache[1])
            span = self._spans.start_retriever(
                kwargs.get("name") or (serialized or {}).get("name") or "retriever")
            if span is not None:
                self._retrievers[run_id] = span
        except Exception as exc:
            self._fail(exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID,
                         parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            ids = [i for d in list(documents)[:MAX_CONTEXT_IDS_PER_ROOT]
                   if (i := document_id(getattr(d, "id", None), getattr(d, "metadata", None),
                                        getattr(d, "page_content", None)))]
            with self._lock:
                root = self._root(run_id)
                if root != run_id:
                    bucket = self._context.get(root)
                    if bucket is None:
                        bucket = self._context[root] = []
                        if len(self._context) > self._max_runs:
                            self._context.popitem(last=False)
                    bucket.extend(ids[: MAX_CONTEXT_IDS_PER_ROOT - len(bucket)])
            self._end(run_id, parent_run_id)
            span = self._retrievers.pop(run_id, None)
            if span is not None:
                self._spans.finish_retriever(span, ids)
        except Exception as exc:
            self._fail(exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run_id, parent_run_id = _key(run_id), _key(parent_run_id)
            self._end(run_id, parent_run_id)
            self._spans.fail(self._retrievers.pop(run_id, None), error, error_type=False)
        except Exception as exc:
            self._fail(exc)
