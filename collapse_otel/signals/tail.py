"""Self-BLEU of a sample of answers, computed on hashed tokens in numpy.

Self-BLEU (Zhu et al. 2018, Texygen): each answer's sentence BLEU against every other answer
of the sample as references, averaged; higher = answers more alike. Exactly sacrebleu's
``sentence_bleu`` (BLEU-4, "exp" smoothing, effective order, closest reference length) on the
same tokens, for every answer at once: an n-gram's clipped count against all other answers is
its count in the answer that holds it most, or the second most when that is this answer.

(The tail, the probability of a type not yet seen, is the coverage deficit: signals.coverage.)
"""

from __future__ import annotations

import numpy as np

from ..text.hashing import NgramBatch
from .gram_table import GramTable, GramTables

MAX_ORDER = 4


def _closest_other_length(lengths: np.ndarray) -> np.ndarray:
    """Per answer, the length of another answer closest to its own (ties: the shorter), as
    sacrebleu picks the reference length."""
    values, counts = np.unique(lengths, return_counts=True)
    k = np.searchsorted(values, lengths)
    own = counts[np.minimum(k, len(values) - 1)] >= 2      # another answer has this length
    below = values[np.maximum(k - 1, 0)]
    has_below = k >= 1
    above_at = k + 1                                        # k points at the own length
    above = values[np.minimum(above_at, len(values) - 1)]
    has_above = above_at < len(values)
    d_below = np.where(has_below, lengths - below, np.iinfo(np.int64).max)
    d_above = np.where(has_above, above - lengths, np.iinfo(np.int64).max)
    pick = np.where(d_below <= d_above, below, above)       # a tie goes to the shorter
    pick = np.where(has_below | has_above, pick, 0)
    return np.where(own, lengths, pick)


def sentence_bleus(batch: NgramBatch) -> np.ndarray:
    """Each answer's sentence BLEU (0-1) against all the others of the batch."""
    docs = len(batch.lengths)
    if docs < 2:
        return np.zeros(docs)
    tables = GramTables(batch, np.zeros(docs, np.int64), 1)   # one group: every other answer
    lengths = batch.lengths.astype(np.int64)
    correct = np.zeros((MAX_ORDER, docs))
    total = np.zeros((MAX_ORDER, docs))
    for n in range(1, MAX_ORDER + 1):
        correct[n - 1] = _clipped_by_group(tables.order(n))[0]
        total[n - 1] = np.maximum(lengths - n + 1, 0)
    return _bleu(correct, total, lengths, _closest_other_length(lengths))


def _bleu(correct: np.ndarray, total: np.ndarray, hyp: np.ndarray, ref: np.ndarray,
          ) -> np.ndarray:
    """sacrebleu's compute_bleu with smooth_method="exp" and effective_order=True, for every
    answer at once (orders x answers arrays), on 0-1: orders count up to the first with no
    n-gram; an order with none correct counts 100 / (2^k total), k its rank among such."""
    counted = np.cumprod(total > 0, axis=0).astype(bool)
    zero = counted & (correct == 0)
    smooth = np.cumsum(zero, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(zero, 100.0 / (2.0 ** smooth * total),
                             100.0 * correct / total)
        logs = np.where(counted, np.log(np.where(counted, precision, 1.0)), 0.0)
        order = counted.sum(axis=0)
        score = np.exp(logs.sum(axis=0) / np.maximum(order, 1)) / 100.0
        hyp_f = hyp.astype(np.float64)
        bp = np.where(hyp >= ref, 1.0, np.where(hyp > 0, np.exp(1 - ref / hyp_f), 0.0))
    return np.where(correct.any(axis=0) & (order > 0), bp * score, 0.0)


def self_bleu(tables: GramTables) -> tuple[float | None, np.ndarray]:
    """Mean sentence BLEU, and its leave-group-out values: self-BLEU of the sample without
    group g, its answers gone both as hypotheses and as references. (Keeping them as
    references measured 20% too narrow on benchmarks/calibration.py: an answer moves the
    others' scores as a reference as well as its own as a hypothesis.)"""
    docs, group, groups = tables.docs, tables.group, tables.groups
    if docs < 2:
        return None, np.full(groups, np.nan)
    lengths = tables.batch.lengths.astype(np.int64)
    correct = np.zeros((MAX_ORDER, docs))
    loo_correct = np.zeros((MAX_ORDER, docs, groups))
    total = np.zeros((MAX_ORDER, docs))
    for n in range(1, MAX_ORDER + 1):
        correct[n - 1], loo_correct[n - 1] = _clipped_by_group(tables.order(n))
        total[n - 1] = np.maximum(lengths - n + 1, 0)
    ref = _closest_other_length(lengths)
    scores = _bleu(correct, total, lengths, ref)
    refs = np.repeat(ref[:, None], groups, axis=1)
    for g in range(groups):
        keep = group != g
        refs[keep, g] = _closest_other_length(lengths[keep])
    # most answers score the same without a given group: recompute only those that change
    loo_scores = np.repeat(scores[:, None], groups, axis=1)
    d, dg = np.nonzero((loo_correct != correct[:, :, None]).any(axis=0) | (refs != ref[:, None]))
    if len(d):
        loo_scores[d, dg] = _bleu(loo_correct[:, d, dg], total[:, d], lengths[d], refs[d, dg])
    loo = np.full(groups, np.nan)
    for g in range(groups):
        keep = group != g
        if keep.sum() >= 2:
            loo[g] = loo_scores[keep, g].mean()
    return float(scores.mean()), loo


def _clipped_by_group(t: GramTable) -> tuple[np.ndarray, np.ndarray]:
    """Per answer, the clipped count of its n-grams against all the others (the sum over its
    n-grams of min(its count, the most any other answer has)) and, column g, against the
    others outside group g (its own group's column unused).

    The table puts each n-gram's answers in runs per group, so per (n-gram, group) the
    largest count, its holder and the second largest are segment maxima; leaving a group out
    changes an (answer, n-gram)'s count only when that group holds the largest count among
    the other groups: one correction at most, from the n-gram's three groups with the
    largest counts."""
    docs, groups = t.docs, t.groups
    full: np.ndarray = np.zeros(docs)
    out: np.ndarray = np.zeros((docs, groups))
    first, last = t.gram_bounds()
    shared = np.repeat(last > first, last - first + 1)   # an n-gram only one answer has clips to 0
    if not shared.any():
        return full, out
    count, new_gram = t.count[shared], t.gram_start[shared]
    doc, grp = t.doc[shared], t.grp[shared]
    run = np.cumsum(new_gram) - 1
    # per (n-gram, group) cell: the largest count, its holder, the second largest
    new_cell = new_gram | np.r_[True, grp[1:] != grp[:-1]]
    cell_at = np.flatnonzero(new_cell)
    cell = np.cumsum(new_cell) - 1
    top1 = np.maximum.reduceat(count, cell_at)
    index = np.arange(len(count))
    holds = np.minimum.reduceat(np.where(count == top1[cell], index, len(count)), cell_at)
    rest = count.copy()
    rest[holds] = 0
    top2 = np.maximum.reduceat(rest, cell_at)
    holder = doc[holds]
    own = np.where(holder[cell] == doc, top2[cell], top1[cell])   # own group, but itself
    # per n-gram: the three groups with the largest counts (distinct groups)
    cell_run, cell_grp = run[cell_at], grp[cell_at]
    run_at = np.flatnonzero(np.r_[True, cell_run[1:] != cell_run[:-1]])
    runs = len(run_at)
    best_v = np.zeros((3, runs), np.int64)
    best_g = np.full((3, runs), -1, np.int64)
    left = top1.astype(np.int64)
    cell_index = np.arange(len(left))
    for k in range(3):
        best = np.maximum.reduceat(left, run_at)
        at = np.minimum.reduceat(np.where((left == best[cell_run]) & (left > 0), cell_index,
                                          len(left)), run_at)
        found = at < len(left)
        best_v[k, found] = best[found]
        best_g[k, found] = cell_grp[at[found]]
        left[at[found]] = 0
    # the count an answer's n-gram is clipped to comes from the first of those groups that is
    # not its own (or from its own group); leaving that group out falls back to the next one
    g0, g1 = best_g[0][run], best_g[1][run]
    v1, v2 = best_v[1][run], best_v[2][run]
    first_other = g0 != grp
    pick1 = np.where(first_other, best_v[0][run], v1)
    from_group = np.where(first_other, g0, g1)
    pick2 = np.where(first_other & (g1 != grp), v1, v2)
    base = np.minimum(count, np.maximum(pick1, own))
    full = np.bincount(doc, weights=base, minlength=docs)
    out += full[:, None]
    delta = np.minimum(count, np.maximum(pick2, own)) - base
    moved = np.flatnonzero(delta)
    out += np.bincount(doc[moved] * groups + from_group[moved], weights=delta[moved],
                       minlength=docs * groups).reshape(docs, groups)
    return full, out
