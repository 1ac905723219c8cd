"""A word trigram language model with Witten-Bell backoff, sampled with top-p and temperature.

Why this model: collapse under recursive training comes from two things a trigram model has
too. Re-estimating from a finite sample loses the tails (a continuation that the previous
generation never produced has no count any more, and only the backoff can bring it back), and
top-p sampling cuts each distribution's tail on every draw. Nothing else degrades the text.

Model. Counts are maximum likelihood per order (sentence starts padded with two ``<s>``). A
context seen ``c`` times with ``t`` distinct continuations keeps mass ``c / (c + t)`` for them
and backs off with the rest (Witten-Bell) to the next lower order (bigram, then unigram), whose
own distribution is used as is (not renormalised over the unseen words: a common
simplification).

Sampling. Top-p keeps the smallest set of most probable words whose mass reaches ``top_p`` and
renormalises. The words are ranked as a backoff model ranks them: a context's observed
continuations (by count) before any backed-off word. So when the observed mass reaches
``top_p`` the nucleus lies among them and the smoothing tail is cut, as top-p cuts an LLM's
long tail; otherwise the nucleus holds every observed continuation plus the lower order's
nucleus for the remaining mass. Temperature reshapes the counts of each order (``c ** (1/T)``);
the backoff weights stay those of the counts.

Answers. The model also learns how long answers are: a target length is drawn from the
training answers' word counts, with the same top-p and temperature as a word (so rare lengths
are cut as rare words are), and sentences are generated until the sentence end nearest that
target (at least one sentence). Deterministic for a ``numpy`` Generator.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .tokens import SENTENCE_END, word_count
from .wikitext import Answer, Sentence

BOS = "<s>"
MAX_SENTENCE_TOKENS, MAX_REDRAWS = 100, 20
_BLOCK = 1 << 16
_EPS = 1e-9


@dataclass
class _Order:
    """One order's conditional distributions: context key -> (lo, hi, backoff weight); the
    continuations of a context are ``words[lo:hi]`` by decreasing count, ``cum[lo:hi]`` their
    cumulative tempered probabilities (ending at 1.0)."""

    groups: dict[int, tuple[int, int, float]]
    words: list[int]
    cum: list[float]

    def nucleus_end(self, lo: int, hi: int, mass: float) -> int:
        """Index of the last word of the nucleus of ``words[lo:hi]`` holding ``mass`` of it."""
        return min(bisect_left(self.cum, mass - _EPS, lo, hi), hi - 1)

    def draw(self, lo: int, last: int, uniform: _Uniform) -> int:
        """A word of ``words[lo:last + 1]``, in proportion to its probability."""
        cum = self.cum
        return self.words[bisect_right(cum, uniform() * cum[last], lo, last)]


def _fit_order(contexts: np.ndarray, targets: np.ndarray, vocab: int,
               temperature: float) -> _Order:
    keys, counts = np.unique(contexts * vocab + targets, return_counts=True)
    ctx, word = keys // vocab, keys % vocab
    order = np.lexsort((-counts, ctx))  # by context, then count descending (ties: word id)
    ctx, word, counts = ctx[order], word[order], counts[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]])
    ends = np.r_[starts[1:], len(ctx)]
    sizes = ends - starts
    # (c / c_max) ** (1/T): the same shape as c ** (1/T), and no overflow at a low temperature
    weights = np.exp((np.log(counts) - np.repeat(np.log(counts[starts]), sizes)) / temperature)
    running = np.cumsum(weights)
    before = np.r_[0.0, running][starts]
    group_sum = running[ends - 1] - before
    cum = (running - np.repeat(before, sizes)) / np.repeat(group_sum, sizes)
    cum[ends - 1] = 1.0  # exact, whatever the rounding
    total = np.add.reduceat(counts, starts)
    backoff = sizes / (total + sizes)  # Witten-Bell: distinct continuations / (count + distinct)
    groups = dict(zip(ctx[starts].tolist(),
                      zip(starts.tolist(), ends.tolist(), backoff.tolist(), strict=True),
                      strict=True))
    return _Order(groups, word.tolist(), cum.tolist())


class _Uniform:
    """Uniform [0, 1) draws from a numpy Generator, fetched in blocks (one call per draw
    would cost more than the model)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i == len(self._buf):
            self._buf, self._i = self._rng.random(_BLOCK).tolist(), 0
        self._i += 1
        return self._buf[self._i - 1]


class TrigramModel:
    """Fit on answers (tuples of token sentences), then ``generate`` answers."""

    def __init__(self, answers: Sequence[Answer], *, top_p: float = 0.9,
                 temperature: float = 1.0) -> None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if temperature <= 0.0:
            raise ValueError("temperature must be > 0")
        if not answers:
            raise ValueError("no training answers")
        self.top_p, self.temperature = top_p, temperature
        self.redrawn_sentences = self.cut_sentences = 0
        index: dict[str, int] = {BOS: 0}
        seq: list[int] = []
        for answer in answers:
            for sentence in answer:
                seq += (0, 0)
                seq.extend(index.setdefault(t, len(index)) for t in sentence)
        self.vocab = list(index)
        v = len(index)
        if v >= 1 << 21:  # trigram keys (a * v + b) * v + c must fit in 63 bits
            raise ValueError(f"vocabulary too large for the trigram keys: {v}")
        ids = np.array(seq, dtype=np.int64)
        at = np.flatnonzero(ids != 0)  # every token position; its two predecessors are context
        tri_ctx, bi_ctx, tgt = ids[at - 2] * v + ids[at - 1], ids[at - 1], ids[at]
        self._v = v
        self._orders = (_fit_order(tri_ctx, tgt, v, temperature),
                        _fit_order(bi_ctx, tgt, v, temperature),
                        _fit_order(np.zeros_like(tgt), tgt, v, temperature))
        self._ends = frozenset(index[t] for t in SENTENCE_END if t in index)
        lengths = np.array([word_count(a) for a in answers], dtype=np.int64)
        self._lengths = _fit_order(np.zeros_like(lengths), lengths, int(lengths.max()) + 1,
                                   temperature)

    def _next(self, a: int, b: int, uniform: _Uniform) -> int:
        """One word after context (a, b): an exact draw from the top-p nucleus of the backoff
        ranking (see the module docstring)."""
        q = self.top_p
        tri, bi, uni = self._orders
        above: list[tuple[_Order, int, int, float, float]] = []  # orders wholly in the nucleus
        for order, key in ((tri, a * self._v + b), (bi, b)):
            group = order.groups.get(key)
            if group is None:
                continue
            lo, hi, backoff = group
            kept = 1.0 - backoff
            if kept >= q - _EPS:  # float rounding must not add a word to a full nucleus
                break
            above.append((order, lo, hi, kept, backoff))
            q = (q - kept) / backoff
        else:
            order, (lo, hi, _) = uni, uni.groups[0]
            kept = 1.0
        last = order.nucleus_end(lo, hi, q / kept)
        if above:  # which order the word comes from, in proportion to its nucleus mass
            covered = [kept * order.cum[last]]
            for _, _, _, kept_above, backoff in reversed(above):
                covered.append(kept_above + backoff * covered[-1])
            for (upper, u_lo, u_hi, kept_above, _), mass in zip(above, reversed(covered),
                                                                strict=False):
                if uniform() * mass < kept_above:
                    return upper.draw(u_lo, u_hi - 1, uniform)
        return order.draw(lo, last, uniform)

    def sentence(self, uniform: _Uniform) -> Sentence:
        """One sentence, up to its sentence-end token. One longer than MAX_SENTENCE_TOKENS is
        drawn again (an application's length limit: it conditions the output, never edits it);
        after MAX_REDRAWS the last one is cut and closed with "." (counted in ``cut_sentences``)."""
        for _ in range(MAX_REDRAWS):
            out: list[int] = []
            a = b = 0
            while len(out) < MAX_SENTENCE_TOKENS:
                w = self._next(a, b, uniform)
                out.append(w)
                if w in self._ends:
                    return tuple(self.vocab[w] for w in out)
                a, b = b, w
            self.redrawn_sentences += 1
        self.cut_sentences += 1
        return tuple(self.vocab[w] for w in out) + (".",)

    def generate(self, count: int, rng: np.random.Generator) -> list[Answer]:
        """``count`` answers. Each draws a target length from the training answers' word counts
        (with the same top-p and temperature as every word) and ends at the sentence end
        nearest to it, after at least one sentence."""
        uniform = _Uniform(rng)
        lengths = self._lengths
        lo, hi, _ = lengths.groups[0]
        last = lengths.nucleus_end(lo, hi, self.top_p)
        answers: list[Answer] = []
        for _ in range(count):
            target = lengths.draw(lo, last, uniform)
            sentences: list[Sentence] = []
            words = 0
            while True:
                s = self.sentence(uniform)
                n = word_count([s])
                if words + n >= target:
                    if not sentences or words + n - target <= target - words:
                        sentences.append(s)
                    break
                sentences.append(s)
                words += n
            answers.append(tuple(sentences))
        return answers
