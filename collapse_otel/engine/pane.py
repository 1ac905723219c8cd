"""One window pane: sketches of the answers of one half-window, plus its feedback and
evaluation counts. Versioned bytes: version 4 adds the feedback and evaluation counts;
versions 2 and 3 still load (with none)."""

from __future__ import annotations

from typing import TypedDict

from ..signals import answer_sample
from ..signals.accumulators import FrequencyTable, MeanAccumulator, MomentStats
from ..signals.answer_sample import SampledAnswer, unit_row
from ..signals.codec import Reader, Writer
from ..signals.duplicates import DuplicateIndex
from ..signals.embedding import EmbeddingSketch
from ..signals.minhash import MinHasher
from ..signals.reservoir import ReservoirSample, legacy_items
from .analysis import PreparedAnswer
from .outcome_stats import WindowOutcomes

TAG_PANE = 40   # version 3: the sample holds whole analysed answers; 4: outcome counts
PANE_BYTES = 3_000     # a pane's own objects and accumulators, beyond the parts counted below


def sampled(p: PreparedAnswer) -> SampledAnswer:
    return SampledAnswer(p.sample_text, tuple(p.entity_hashes or ()), tuple(p.context_hashes),
                         unit_row(p.embedding))


class PaneParams(TypedDict):
    """What every pane of one aggregator is built with (merges pass them on by name)."""

    threshold: float
    minhasher: MinHasher
    sample_size: int


class Pane:
    """Sketches of the answers of one half-window."""

    def __init__(self, start: float, *, threshold: float, minhasher: MinHasher,
                 sample_size: int, seed: int) -> None:
        self.start = start
        self.answers = 0
        self.answers_with_text = 0
        self.duplicates = DuplicateIndex(threshold, minhasher)
        self.seq_rep = MomentStats()
        self.completion = MomentStats()
        self.sample: ReservoirSample[SampledAnswer] = ReservoirSample(
            sample_size, seed, answer_sample.sizeof)
        self.outcomes = WindowOutcomes()

    base_bytes = PANE_BYTES   # what an empty pane holds

    def nbytes(self) -> int:
        """Approximate memory held (CPython object sizes): what the memory budget counts."""
        return PANE_BYTES + self.duplicates.nbytes() + self.sample.nbytes()

    def to_bytes(self) -> bytes:
        w = Writer(TAG_PANE, 4).f64(self.start).u64(self.answers).u64(self.answers_with_text)
        w.blob(self.duplicates.to_bytes()).blob(self.seq_rep.to_bytes())
        w.blob(self.completion.to_bytes()).blob(self.sample.to_bytes(answer_sample.encode))
        w.blob(self.outcomes.to_bytes())
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, minhasher: MinHasher) -> Pane:
        r = Reader(data, TAG_PANE, versions=(2, 3, 4))
        start, answers, with_text = r.f64(), r.u64(), r.u64()
        pane = cls.__new__(cls)
        pane.start, pane.answers, pane.answers_with_text = start, answers, with_text
        pane.duplicates = DuplicateIndex.from_bytes(r.blob(), minhasher)
        if r.version == 2:   # before the sample held whole answers: see _legacy_pane
            _legacy_pane(pane, r)
        else:
            pane.seq_rep = MomentStats.from_bytes(r.blob())
            pane.completion = MomentStats.from_bytes(r.blob())
            pane.sample = ReservoirSample.from_bytes(r.blob(), answer_sample.decode,
                                                     answer_sample.sizeof)
        pane.outcomes = WindowOutcomes.from_bytes(r.blob()) if r.version >= 4 \
            else WindowOutcomes()
        r.done()
        return pane


def _legacy_pane(pane: Pane, r: Reader) -> None:
    """A version 2 pane: its mean of seq-rep (no spread), window embedding sketch and context
    table are not kept per sampled answer, so its sample restores texts and entities only;
    embedding and context signals and the seq-rep spread rebuild as the window slides."""
    seq = MeanAccumulator.from_bytes(r.blob())
    EmbeddingSketch.from_bytes(r.blob())
    pane.completion = MomentStats.from_bytes(r.blob())
    FrequencyTable.from_bytes(r.blob())
    k, seed, seen, items = legacy_items(r.blob())
    pane.seq_rep = MomentStats()
    pane.seq_rep.count, pane.seq_rep.total = seq.count, seq.total
    pane.seq_rep.total_sq = pane.seq_rep.total_3 = pane.seq_rep.total_4 = float("nan")
    sample = ReservoirSample(k, seed, answer_sample.sizeof)
    sample.items = [SampledAnswer(text, tags, (), b"") for text, tags in items]
    sample.seen, sample.item_bytes = seen, sum(map(answer_sample.sizeof, sample.items))
    pane.sample = sample
