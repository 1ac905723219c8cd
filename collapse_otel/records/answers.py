"""The unit of capture (AnswerRecord) and the stream key it is aggregated under."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

OTHER_RELEASE = "__other__"   # labels.OVERFLOW: user values are escaped (labels.py)


class StreamKey(NamedTuple):
    """A stream is one (service, release, cohort); every metric series carries these labels."""

    service: str
    release: str
    cohort: str


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One LLM answer as capture saw it.

    ``answer`` is None when the instrumentation carried no text (content capture off): the
    answer and its tokens still count, and it counts as an answer without text.
    ``tokens_estimated`` marks token counts that capture approximated because the model
    reported no usage, so they are never silently reported as exact (or as zero).
    ``question`` is the user's question (last message, or the prompt) when capture knows it:
    the worker keeps only a hash of it, to tell same-question from cross-question duplicates.
    ``source`` names the capture path that made it (``langchain``, ``spans``,
    ``completion_hook``, ``observe``, ``otlp``; empty: built by hand), so that the pipeline counts
    an answer two paths saw once. ``intermediate`` marks an LLM call that is not the answer of
    its user turn (a query rewriter, a router, a judge, a tool-call step): the pipeline counts
    it apart and keeps it out of the answer signals. ``refs`` are references feedback can
    name the answer by (``run:<hex>``, ``trace:<hex>``, ``response:<id>``; see outcomes.py):
    the worker remembers which stream they went to, and never exports them.
    """

    answer: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    context_ids: tuple[str, ...] = ()
    model: str | None = None
    service: str = "unknown_service"
    release: str = "unknown"
    cohort: str = "default"
    timestamp: float = field(default_factory=time.time)
    tokens_estimated: bool = False
    question: str | None = None
    source: str = ""
    intermediate: bool = False
    refs: tuple[str, ...] = ()

    @property
    def stream(self) -> StreamKey:
        return StreamKey(self.service, self.release, self.cohort)
