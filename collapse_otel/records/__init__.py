"""What flows from capture to the engine: one ``AnswerRecord`` per answer, keyed by its
``StreamKey`` (answers.py), and the feedback and evaluation ``Outcome`` events that rate
answers (outcomes.py). Plain values, no I/O: every layer above builds or reads them.
"""

from __future__ import annotations

from .answers import OTHER_RELEASE, AnswerRecord, StreamKey

__all__ = ["OTHER_RELEASE", "AnswerRecord", "StreamKey"]
