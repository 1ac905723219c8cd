"""The unit of capture (AnswerRecord) and the stream key it is aggregated under."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

OTHER_RELEASE = "__other__"


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

    @property
    def stream(self) -> StreamKey:
        return StreamKey(self.service, self.release, self.cohort)
