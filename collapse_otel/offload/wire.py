"""The messages between a host process and its analysis process, over one AF_UNIX
SOCK_SEQPACKET socket pair: one datagram a message, in order, never half delivered.

A message is one kind byte and a pickled payload. A record travels as the tuple of its fields
(pickling a tuple of str, int and None is C code, a few microseconds for a 100-word answer);
one longer than ``FRAGMENT`` bytes travels in pieces (``BEGIN``, ``MORE``..., ``LAST``), so a
socket buffer smaller than the answer still carries it. Both ends are this package's own
processes (a socket pair, never a listening socket), so unpickling reads only what the host
wrote.
"""

from __future__ import annotations

import pickle
from dataclasses import fields
from operator import attrgetter
from typing import Any

from ..records import AnswerRecord
from ..records.outcomes import Outcome
from ..turns.loops import LoopJudgement

RECORD, OUTCOME, FLUSH, ACK, DROPS, CONFIG = b"R", b"O", b"F", b"A", b"D", b"K"
JUDGE = b"J"   # an ended agent turn's loop evidence (loops.LoopJudgement)
BEGIN, MORE, LAST = b"B", b"C", b"Z"
FRAGMENT = 60 << 10          # bytes of payload a datagram carries at most
MAX_MESSAGE = 64 << 20       # a reassembled message larger than this is refused
PROTOCOL = pickle.HIGHEST_PROTOCOL

_record_fields = attrgetter(*(f.name for f in fields(AnswerRecord)))
_outcome_fields = attrgetter(*(f.name for f in fields(Outcome)))


def encode_record(record: AnswerRecord) -> bytes:
    return RECORD + pickle.dumps(_record_fields(record), PROTOCOL)


def encode_outcome(event: Outcome) -> bytes:
    return OUTCOME + pickle.dumps(_outcome_fields(event), PROTOCOL)


def encode_judgement(judgement: LoopJudgement) -> bytes:
    return JUDGE + pickle.dumps(judgement.fields(), PROTOCOL)


def encode(kind: bytes, payload: Any) -> bytes:
    return kind + pickle.dumps(payload, PROTOCOL)


def pieces(message: bytes) -> list[bytes]:
    """The datagrams that carry ``message``: itself when short, else fragments."""
    if len(message) <= FRAGMENT:
        return [message]
    kind, body = message[:1], memoryview(message)[1:]
    cuts = range(0, len(body), FRAGMENT)
    out = [(BEGIN if i == 0 else MORE) + bytes(body[i:i + FRAGMENT]) for i in cuts]
    out[-1] = LAST + kind + out[-1][1:]
    return out


class Reassembler:
    """Receiving end: whole messages from datagrams. A fragment sequence the sender broke
    off (its buffer was full) is discarded when the next message starts."""

    def __init__(self) -> None:
        self._parts: list[bytes] | None = None
        self._size = 0

    def feed(self, datagram: bytes) -> bytes | None:
        kind = datagram[:1]
        if kind == BEGIN:
            self._parts, self._size = [datagram[1:]], len(datagram) - 1
            return None
        if kind == MORE:
            if self._parts is not None:
                self._parts.append(datagram[1:])
                self._size += len(datagram) - 1
                if self._size > MAX_MESSAGE:
                    self._parts = None
            return None
        parts, self._parts = self._parts, None
        if kind == LAST:
            if parts is None:
                return None
            return datagram[1:2] + b"".join(parts) + datagram[2:]
        return datagram


def decode(message: bytes) -> tuple[bytes, Any]:
    """(kind, object): an AnswerRecord, an Outcome, a LoopJudgement, or the control
    payload."""
    kind, payload = message[:1], pickle.loads(message[1:])
    if kind == RECORD:
        return kind, AnswerRecord(*payload)
    if kind == OUTCOME:
        return kind, Outcome(*payload)
    if kind == JUDGE:
        return kind, LoopJudgement(*payload)
    return kind, payload
