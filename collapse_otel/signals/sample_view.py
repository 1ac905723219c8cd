"""A window's reservoir sample, prepared once for every corpus statistic the registry declares.

Each corpus statistic is a short method here returning (value, standard error): the work
several statistics share (hashing the text, the n-gram tables, the per-kind count matrices,
the embedding eigenproblems, the Hill numbers at a coverage) is done once, when the first one
asks for it. Corpus statistics have no textbook error: the answers are dealt into groups
(answer i to group i mod G, the sample's slot order being random) and the spread comes from a
delete-group jackknife (``resampling``), unless a method says otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..forksafe import cached_property
from ..text.hashing import TokenHasher
from ..text.normalize import word_bytes
from . import answer_clusters as A
from . import coverage as C
from . import resampling as R
from . import tail as T
from .answer_sample import SampledAnswer, embedding_matrix
from .gram_table import GramTables

Estimate = tuple[float | None, float | None]   # (value, standard error)
_HASHER = TokenHasher()
_EMBEDDING = ("vendi", "cosine", "rank")
SAMPLE_TEXT_CHARS = 1 << 20   # characters of sample text one refresh reads, at most


def within_budget(texts: list[str], budget: int = SAMPLE_TEXT_CHARS) -> list[str]:
    """The sample's texts, each cut at a word boundary to an equal share of ``budget``
    characters when together they are longer: the corpus statistics hold about 56 bytes per
    character while they run (4,096 characters of 1,000 long answers took 229 MiB), so a
    sample of long answers is judged on the start of each. Short answers stay whole."""
    if sum(map(len, texts)) <= budget:
        return texts
    limit = max(budget // max(len(texts), 1), 1)
    out = []
    for t in texts:
        if len(t) > limit:
            cut = t.rfind(" ", 0, limit + 1)
            t = t[:cut if cut > 0 else limit]
        out.append(t)
    return out


def _jackknifed(value_loo: tuple[float | None, np.ndarray]) -> Estimate | None:
    value, loo = value_loo
    return None if value is None else (value, R.jackknife_se(loo))


class SampleView:
    """The sample's shared work, each part computed on first use. ``coverage``: per kind of
    type (words, bigrams, entities), the coverage its Hill numbers are standardised to."""

    def __init__(self, sample: list[SampledAnswer], coverage: Mapping[str, float],
                 groups: int = R.GROUPS, gzip_level: int = 6) -> None:
        self.items = sample
        self.groups = min(groups, len(sample))
        self.coverage = coverage
        self.gzip_level = gzip_level
        self._at_coverage: dict[str, dict[str, tuple[float | None, np.ndarray]]] = {}
        self._type_counts: dict[str, np.ndarray] = {}

    def at(self, coverage: Mapping[str, float]) -> SampleView:
        """The same sample with its Hill numbers at ``coverage``, sharing the work done so
        far (a comparison reads both samples' own coverages first)."""
        other = copy.copy(self)
        other.coverage, other._at_coverage = coverage, {}
        return other

    @property
    def usable(self) -> bool:
        """At least two groups: a jackknife needs them."""
        return self.groups >= 2

    @cached_property
    def group(self) -> np.ndarray:
        return np.arange(len(self.items)) % max(self.groups, 1)

    @cached_property
    def texts(self) -> list[str]:
        return within_budget([item.text for item in self.items])

    @cached_property
    def tables(self) -> GramTables:
        batch = _HASHER.batch([word_bytes(t) for t in self.texts])
        return GramTables(batch, self.group, self.groups)

    # --- n-grams ---------------------------------------------------------------------------

    def distinct(self, n: int) -> Estimate | None:
        """distinct-n within answers."""
        return _jackknifed(R.distinct_within(self.tables, n)) if self.usable else None

    def repeated_across(self, n: int = 4) -> Estimate | None:
        """1 - distinct-n: the share of the sample's n-grams that repeat one."""
        if not self.usable:
            return None
        d, loo = R.distinct_within(self.tables, n)
        return None if d is None else (1.0 - d, R.jackknife_se(1.0 - loo))

    def ngram_diversity(self) -> Estimate | None:
        """Sum of distinct-1..4 of the sample's tokens end to end (None without tokens)."""
        if not self.usable or R.distinct_within(self.tables, 1)[0] is None:
            return None
        total, loo = 0.0, np.zeros(self.groups)
        for n in (1, 2, 3, 4):
            joined, joined_loo = R.distinct_joined(self.tables, n)
            if joined is not None:
                total += joined
                loo = loo + np.nan_to_num(joined_loo, nan=0.0)
        return total, R.jackknife_se(loo)

    def self_repetition(self) -> Estimate | None:
        return _jackknifed(R.self_repetition(self.tables, 4)) if self.usable else None

    def self_bleu(self) -> Estimate | None:
        return _jackknifed(T.self_bleu(self.tables)) if self.usable else None

    def compression(self) -> Estimate | None:
        """Raw / gzip bytes, compressed one group at a time."""
        if not self.usable:
            return None
        return _jackknifed(R.chunked_compression(self.texts, self.group, self.gzip_level,
                                                 self.groups))

    # --- types at equal coverage -----------------------------------------------------------

    def type_counts(self, kind: str) -> np.ndarray:
        """types x groups counts of one kind of type: words, bigrams, entities, or answers
        clustered as near duplicates (near_answers)."""
        if kind not in self._type_counts:
            self._type_counts[kind] = self._counts[kind]() if kind in self._counts else \
                np.zeros((0, self.groups), np.int64)
        return self._type_counts[kind]

    @cached_property
    def _counts(self) -> dict[str, Callable[[], np.ndarray]]:
        return {"words": lambda: self._gram_counts(1), "bigrams": lambda: self._gram_counts(2),
                "entities": lambda: self._keyed([item.entities for item in self.items]),
                "near_answers": lambda: self._clusters(
                    A.near_labels(self.texts, self.tables.batch))}

    def _clusters(self, labels: np.ndarray) -> np.ndarray:
        return A.cluster_counts(labels, self.group, self.groups)

    def _gram_counts(self, n: int) -> np.ndarray:
        t = self.tables.order(n)
        if not t.total:
            return np.zeros((0, self.groups), np.int64)
        types, groups = int(t.gram_start.sum()), self.groups
        return np.bincount(t.gram_of_row() * groups + t.grp, weights=t.count,
                           minlength=types * groups).reshape(types, groups)

    def _keyed(self, lists: Sequence[Sequence[int]]) -> np.ndarray:
        return R.count_matrix(lists, self.group, self.groups)

    def _standardised(self, kind: str) -> dict[str, tuple[float | None, np.ndarray]]:
        if kind not in self._at_coverage:
            counts = self.type_counts(kind) if self.usable else np.zeros((0, 1))
            # a kind without a coverage of its own has only its deficit read (target 0)
            self._at_coverage[kind] = C.with_jackknife(counts, self.coverage.get(kind, 0.0)) \
                if len(counts) else {}
        return self._at_coverage[kind]

    def hill(self, kind: str, q: int) -> Estimate | None:
        """Hill number of order q of the kind's types at its coverage (or at the coverage
        the sample reaches within twice its size)."""
        r = self._standardised(kind)
        return _jackknifed(r[f"q{q}"]) if r else None

    def deficit(self, kind: str) -> Estimate | None:
        """1 - sample coverage; the answer-level jackknife: the kind's items cluster in
        answers (an answer's bigrams overlap; one names the same place twice)."""
        r = self._standardised(kind)
        return _jackknifed(r["deficit"]) if r else None

    def deficit_poisson(self, kind: str) -> Estimate | None:
        """1 - sample coverage, f1 as a Poisson count: for words (measured: the jackknife
        was 40% too wide, leaving a group out turns its doubletons into singletons)."""
        total = self.type_counts(kind).sum(axis=1) if self.usable else np.zeros(0, np.int64)
        value = C.deficit(total) if len(total) else None
        return None if value is None else (value, C.deficit_se(total))

    # --- retrieval and embeddings ----------------------------------------------------------

    @cached_property
    def _contexts(self) -> np.ndarray:
        return self._keyed([item.contexts for item in self.items])

    def contexts(self, statistic: Callable[[np.ndarray], float | None]) -> Estimate | None:
        """A statistic of the retrieved context ids' counts (None without retrievals)."""
        if not self.usable or not len(self._contexts):
            return None
        return _jackknifed(R.keyed_with_jackknife(self._contexts, statistic))

    @cached_property
    def _embedding(self) -> dict[str, tuple[float | None, np.ndarray]]:
        has_row = np.fromiter((bool(item.embedding) for item in self.items), dtype=bool,
                              count=len(self.items))
        X = embedding_matrix(self.items)
        if not self.usable or len(X) < 2 or len(X) != int(has_row.sum()):
            return {}
        return R.embedding_with_jackknife(X, self.group[has_row], self.groups)

    def embedding(self, statistic: str) -> Estimate | None:
        """vendi, cosine or rank of the sample's embeddings (every answer embedded)."""
        return _jackknifed(self._embedding[statistic]) if self._embedding else None
