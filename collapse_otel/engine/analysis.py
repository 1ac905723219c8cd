"""Per-answer analysis of a batch of records: everything that needs no stream state.

Runs outside the aggregator's lock, over the whole batch at once: tokens, hashes, seq-rep-4,
shingles and their MinHash band keys and embedding rows in one call of the compiled core
(the interpreter lock released) or numpy (hash_core); entities in one scan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..records import AnswerRecord
from ..signals.duplicates import SHINGLE_SKETCH
from ..signals.embedding import Embedder, HashedFeatureEmbedder
from ..signals.minhash import MinHasher
from ..text.entities import EntityExtractor
from ..text.hashing import TokenHasher, text_hash
from ..text.normalize import clean_text, normalize, word_bytes
from .hash_core import batch_hashes

SHINGLE_SIZE = 5
SEQ_REP_N = 4
MAX_CONTEXT_IDS = 256
MAX_CONTEXT_ID_CHARS = 512
CONTEXT_CACHE = 8_192  # context-id hashes remembered; ids of up to 128 characters (< 5 MB)
CONTEXT_CACHE_ID_CHARS = 128
MAX_TOKENS = 100_000_000  # per answer; larger reports are treated as invalid
SAMPLE_CHARS = 4_096  # what the window sample keeps of an answer, and where entities are read
QUESTION_CHARS = 4_096  # of a question, what its hash reads
CHUNK = 4096  # records analysed together at most (bounded temporary arrays) ...
CHUNK_CHARS = 1 << 18  # ... and at most this much answer text (the analysis holds about 32
#                        bytes per character of a chunk: 8 MiB)


def chunks(records: Sequence[AnswerRecord]) -> Iterable[Sequence[AnswerRecord]]:
    """Consecutive pieces of at most CHUNK records and CHUNK_CHARS characters of answer text
    (at least one record each), so a batch of long answers is analysed in bounded memory."""
    start, chars = 0, 0
    for i, rec in enumerate(records):
        size = len(rec.answer) if isinstance(rec.answer, str | bytes) else 0
        if i > start and (i - start >= CHUNK or chars + size > CHUNK_CHARS):
            yield records[start:i]
            start, chars = i, 0
        chars += size
    if start < len(records):
        yield records[start:] if start else records


@dataclass(slots=True)
class PreparedAnswer:
    record: AnswerRecord
    timestamp: float
    prompt_tokens: int | None
    completion_tokens: int | None
    context_hashes: list[int]
    tokens_estimated: bool = False
    has_text: bool = False
    truncated: bool = False
    normalized: str = ""
    sample_text: str = ""
    text_hash: int = 0
    seq_rep: float | None = None
    shingles: np.ndarray | None = None
    band_keys: list[int] | None = None
    entity_hashes: list[int] | None = None
    embedding: np.ndarray | None = None
    question_hash: int = 0   # 0: question unknown


def question_hash(question: object) -> int:
    """Stable hash of a question's normalised text (its first QUESTION_CHARS characters), or
    0 when there is none: questions that differ only in case or spacing match."""
    if not isinstance(question, (str, bytes)) or not question:
        return 0
    normalized = normalize(clean_text(question[:4 * QUESTION_CHARS])[:QUESTION_CHARS])
    return (text_hash(normalized) or 1) if normalized else 0


def token_count(value: object) -> int | None:
    """A usable token count, or None for missing / negative / non-finite / absurd (over
    MAX_TOKENS) / wrong-typed values: one bad report must not poison the counters."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the usual case, checked first
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value) if 0 <= value <= MAX_TOKENS else None


def _flag(value: object) -> bool:
    """A record's boolean flag; a value whose truth cannot be decided counts as False."""
    if type(value) is bool:
        return value
    try:
        return bool(value)
    except Exception:  # e.g. a numpy array
        return False


def _timestamp(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return time.time()


def _context_hash(cid: object) -> int:
    return text_hash(clean_text(cid if isinstance(cid, (str, bytes)) else str(cid))
                     [:MAX_CONTEXT_ID_CHARS])


def _context_hashes(ids: object, cache: dict[object, int]) -> list[int]:
    """Hashes of the first MAX_CONTEXT_IDS ids; ``cache`` remembers recent ids (retrieval
    returns the same documents again and again), cleared when it reaches CONTEXT_CACHE."""
    if type(ids) is tuple or type(ids) is list:
        try:  # the usual case: every id seen before
            return [cache[cid] for cid in ids[:MAX_CONTEXT_IDS]]
        except (KeyError, TypeError):  # TypeError: an unhashable id
            pass
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set, frozenset)):
        return []
    out = []
    for i, cid in enumerate(ids):
        if i >= MAX_CONTEXT_IDS:
            break
        cacheable = type(cid) is str and len(cid) <= CONTEXT_CACHE_ID_CHARS
        h = cache.get(cid) if cacheable else None
        if h is None:
            h = _context_hash(cid)
            if cacheable:
                if len(cache) >= CONTEXT_CACHE:
                    cache.clear()
                cache[cid] = h
        out.append(h)
    return out


def text_head(text: str, limit: int = SAMPLE_CHARS) -> str:
    """The first ``limit`` characters of a text, cut at a space so no word is split: what
    the window sample keeps of an answer and where its entities are read. Bounds the sample's
    memory and the refresh cost whatever the answer's length; shorter answers stay whole."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[:cut if cut > 0 else limit]


class BatchAnalyzer:
    """Turns records into PreparedAnswers. Holds only a bounded cache (context-id hashes).

    What an answer leaves behind is bounded whatever its length: at most SHINGLE_SKETCH
    shingles for near-duplicate checks and SAMPLE_CHARS characters (and the entities found in
    them) for the sample; the rest of the analysis reads up to ``max_answer_chars``."""

    def __init__(self, *, max_answer_chars: int, entity_extractor: EntityExtractor,
                 embedder: Embedder, minhasher: MinHasher, hasher: TokenHasher) -> None:
        self.max_answer_chars = max_answer_chars
        self.entities = entity_extractor
        self.embedder = embedder
        self.minhasher = minhasher
        self.hasher = hasher
        self._context_cache: dict[object, int] = {}

    def prepare(self, records: Sequence[AnswerRecord]) -> list[PreparedAnswer]:
        prepared: list[PreparedAnswer] = []
        texts: list[str] = []
        pieces: list[bytes] = []
        for rec in records:
            p = PreparedAnswer(rec, _timestamp(rec.timestamp), token_count(rec.prompt_tokens),
                               token_count(rec.completion_tokens),
                               _context_hashes(rec.context_ids, self._context_cache))
            p.tokens_estimated = _flag(rec.tokens_estimated)
            p.question_hash = question_hash(getattr(rec, "question", None))
            prepared.append(p)
            if rec.answer is None:
                continue
            raw = clean_text(rec.answer)
            if len(raw) > self.max_answer_chars:
                raw, p.truncated = raw[: self.max_answer_chars], True
            p.has_text = True
            p.normalized = normalize(raw)
            p.sample_text = text_head(p.normalized)
            p.text_hash = text_hash(p.normalized)
            texts.append(raw)
            pieces.append(word_bytes(p.normalized))
        with_text = [p for p in prepared if p.has_text]
        extract_many = getattr(self.entities, "extract_many", None)
        heads = [text_head(t) for t in texts]
        mentions = extract_many(heads) if extract_many is not None else \
            [self.entities.extract(t) for t in heads]
        for p, found in zip(with_text, mentions, strict=True):
            p.entity_hashes = [text_hash(e) for e in found]
        if with_text:
            self._vectorised(with_text, texts, pieces)
        return prepared

    def _vectorised(self, answers: list[PreparedAnswer], texts: list[str],
                    pieces: list[bytes]) -> None:
        hashed = isinstance(self.embedder, HashedFeatureEmbedder)
        out = batch_hashes(pieces, self.minhasher, seq_n=SEQ_REP_N, shingle_n=SHINGLE_SIZE,
                           dim=self.embedder.dim if hashed else 0, hasher=self.hasher)
        rows = out.embedding if hashed else np.asarray(self.embedder.embed(texts),
                                                       dtype=np.float64)
        assert rows is not None   # batch_hashes embeds whenever it is given a dimension
        with np.errstate(invalid="ignore", divide="ignore"):
            # seq-rep-4: 1 - unique / total 4-grams; nan where an answer has no 4-gram
            seq_rep = (1.0 - out.seq_unique / out.seq_total).tolist()
        bounds = np.concatenate(([0], np.cumsum(out.shingle_counts))).tolist()
        sh = out.shingles
        # plain Python values per answer, converted once per batch
        for p, rep, lo, hi, band_keys, row in zip(answers, seq_rep, bounds[:-1], bounds[1:],
                                                  out.band_keys.tolist(), rows, strict=True):
            if rep == rep:  # not nan
                p.seq_rep = rep
            if hi > lo:  # the smallest hashes first: a bottom-k sketch of a long answer;
                # a copy, as a view would keep the whole batch's array alive with the answer
                p.shingles = sh[lo:min(hi, lo + SHINGLE_SKETCH)].copy()
                p.band_keys = band_keys
            p.embedding = row
