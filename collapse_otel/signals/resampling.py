"""Corpus statistics of a sample with their delete-group jackknife, in one pass each.

A corpus statistic (distinct-n, compression, retrieval shares, embedding dispersion) is not a
mean, so it has no textbook standard error. The sample's answers are dealt into GROUPS groups
(answer i goes to group i mod GROUPS: the sample's slot order is random) and each statistic is
also computed with one group left out; the jackknife variance is
(G - 1) / G * sum_g (theta_-g - mean)^2. Chosen over the bootstrap on cost: every leave-group-
out value here comes from the full computation plus per-group counts (n-grams owned by one
group, per-group compressed sizes, per-group kernel sums), so the spread costs a fraction of
the statistic itself, where 200 bootstrap replicates would cost 200 times it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from .batch import effective_rank_from_singular_values, vendi_from_eigenvalues
from .gram_table import GramTables

GROUPS = 20
_GROUP_BITS = np.uint64(5)          # GROUPS < 32: a group fits in the low 5 bits of a key


def jackknife_se(loo: np.ndarray) -> float | None:
    """Standard error from leave-one-group-out values (None with fewer than 2 finite).

    Measured on repeated samples of a fixed population (benchmarks/calibration.py): close to
    the true spread for smooth statistics, and conservative (10-25% wide) for distinct
    counts and pairwise cosines, whose second-order terms the jackknife counts in; so no
    t-quantile widening on top of it."""
    loo = np.asarray(loo, dtype=np.float64)
    loo = loo[np.isfinite(loo)]
    g = len(loo)
    if g < 2:
        return None
    return float(math.sqrt((g - 1) / g * float(((loo - loo.mean()) ** 2).sum())))


def _with_group(keys: np.ndarray, group: np.ndarray) -> np.ndarray:
    """64-bit keys with their low 5 bits replaced by a group (59-bit keys: for 10^6 keys a
    collision has probability ~1e-6)."""
    result: np.ndarray = (keys >> _GROUP_BITS << _GROUP_BITS) | group.astype(np.uint64)
    return result


def _owned(packed: np.ndarray, groups: int) -> tuple[int, np.ndarray]:
    """(distinct keys, per group: keys found in that group only) of (key, group) packs."""
    if not len(packed):
        return 0, np.zeros(groups, np.int64)
    s = np.sort(packed)
    s = s[np.r_[True, s[1:] != s[:-1]]]                  # unique (key, group)
    key = s >> _GROUP_BITS
    start = np.r_[True, key[1:] != key[:-1]]
    run = np.cumsum(start) - 1
    size = np.bincount(run)
    alone = size[run] == 1
    owned = np.bincount((s[alone] & np.uint64(31)).astype(np.int64), minlength=groups)
    return int(start.sum()), owned[:groups]


def repeated_share(keys: np.ndarray, groups: int = GROUPS) -> tuple[float | None, np.ndarray]:
    """Share of keys (the window's answer-text hashes, in order) equal to another key of the
    set, i.e. 1 - distinct / total, and its leave-group-out values (key i in group i mod G)."""
    n = len(keys)
    if n < 2:
        return None, np.full(groups, np.nan)
    group = np.arange(n) % groups
    distinct, owned = _owned(_with_group(keys.astype(np.uint64), group), groups)
    per_group = np.bincount(group, minlength=groups)[:groups]
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = 1.0 - (distinct - owned) / (n - per_group)
    return 1.0 - distinct / n, loo


def distinct_within(tables: GramTables, n: int) -> tuple[float | None, np.ndarray]:
    """distinct-n of n-grams within answers, and its leave-group-out values (an n-gram whose
    answers are all in one group is gone without that group)."""
    t = tables.order(n)
    if not t.total:
        return None, np.full(tables.groups, np.nan)
    distinct, owned = _distinct_owned(t.sole_group(), t.groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (distinct - owned) / (t.total - t.per_group)
    return distinct / t.total, loo


def distinct_joined(tables: GramTables, n: int) -> tuple[float | None, np.ndarray]:
    """distinct-n of the answers' tokens end to end, and its leave-group-out values (an
    n-gram crossing a boundary belongs to the answer it starts in): the within-answer table
    plus the few n-grams that cross a boundary, merged by binary search."""
    batch, group, groups = tables.batch, tables.group, tables.groups
    total = int(max(len(batch.tokens) - n + 1, 0))
    if not total:
        return None, np.full(groups, np.nan)
    t = tables.order(n)
    sole = t.sole_group()
    starts = batch.owner[:total]
    crossing_group = group[starts[batch.owner[n - 1:] != starts]]
    per_group = t.per_group + np.bincount(crossing_group, minlength=groups)[:groups]
    keys = batch.crossing(n) >> np.uint64(t.shift)
    extra = np.zeros(0, np.int64)
    if len(keys):
        order = np.lexsort((crossing_group, keys))
        keys, crossing_group = keys[order], crossing_group[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        last = np.r_[first[1:], len(keys)] - 1
        keys = keys[first]
        c_sole = np.where(crossing_group[first] == crossing_group[last], crossing_group[first], -1)
        at = np.minimum(np.searchsorted(t.key, keys), max(len(t.key) - 1, 0))
        known = (t.key[at] == keys) if len(t.key) else np.zeros(len(keys), bool)
        sole = sole.copy()
        sole[at[known]] = np.where(sole[at[known]] == c_sole[known], c_sole[known], -1)
        extra = c_sole[~known]
    distinct, owned = _distinct_owned(np.concatenate((sole, extra)), groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (distinct - owned) / (total - per_group)
    return distinct / total, loo


def _distinct_owned(sole: np.ndarray, groups: int) -> tuple[int, np.ndarray]:
    """(distinct keys, per group: keys found in that group only) from each key's sole group."""
    return len(sole), np.bincount(sole[sole >= 0], minlength=groups)[:groups]


def self_repetition(tables: GramTables, n: int = 4) -> tuple[float | None, np.ndarray]:
    """mean_d ln(1 + sum over d's unique n-grams g of (df(g) - 1)), and its leave-group-out
    values: leaving group k out lowers each other answer's excess by the documents of group k
    that share its n-grams (only n-grams in two or more answers matter)."""
    t, docs, groups = tables.order(n), tables.docs, tables.groups
    if not docs or not t.total:
        return None, np.full(groups, np.nan)
    run = t.gram_of_row()                       # a row is one (n-gram, answer)
    df = np.bincount(run)
    excess = np.bincount(t.doc, weights=df[run] - 1, minlength=docs)
    value = float(np.log1p(excess).mean())
    shared = df[run] >= 2
    s_run, s_doc = run[shared], t.doc[shared]
    inverse = np.cumsum(np.r_[True, s_run[1:] != s_run[:-1]]) - 1 if len(s_run) else s_run
    runs = int(inverse[-1]) + 1 if len(inverse) else 0
    # documents of each group per shared run
    per_group = np.bincount(inverse * groups + t.grp[shared], minlength=runs * groups)
    per_group = per_group.reshape(runs, groups)
    loo = np.full(groups, np.nan)
    group = tables.group
    for k in range(groups):
        outside = group[:docs] != k
        if not outside.any():
            continue
        removed = np.bincount(s_doc, weights=per_group[inverse, k], minlength=docs)
        loo[k] = float(np.log1p(excess[outside] - removed[outside]).mean())
    return value, loo


def chunked_compression(texts: Sequence[str], group: np.ndarray, level: int,
                        groups: int = GROUPS) -> tuple[float | None, np.ndarray]:
    """Raw / gzip-compressed bytes of the sample compressed one group at a time (groups of
    about 50 answers, about deflate's 32 KB window), and its leave-group-out values."""
    raw = np.zeros(groups)
    packed = np.zeros(groups)
    for k in range(groups):
        members = [texts[i] for i in np.flatnonzero(group == k).tolist()]
        if not members:
            continue
        data = " ".join(members).encode("utf-8", "surrogatepass")
        raw[k] = len(data)
        packed[k] = len(gzip_bytes(data, level))
    if not raw.sum():
        return None, np.full(groups, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (raw.sum() - raw) / (packed.sum() - packed)
    return float(raw.sum() / packed.sum()), loo


def gzip_bytes(data: bytes, level: int) -> bytes:
    """``data`` gzipped at ``level`` (the compression-ratio signal measures its length)."""
    c = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def count_matrix(lists: Sequence[Sequence[int]], group: np.ndarray,
                 groups: int = GROUPS) -> np.ndarray:
    """keys x groups counts of hashed keys (entities, context ids) listed per answer."""
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    if not lengths.sum():
        return np.zeros((0, groups), np.int64)
    flat = np.fromiter((k for x in lists for k in x), dtype=np.uint64, count=int(lengths.sum()))
    item_group = np.repeat(group[:len(lists)], lengths)
    _, key = np.unique(flat, return_inverse=True)
    k = int(key.max()) + 1
    return np.bincount(key * groups + item_group, minlength=k * groups).reshape(k, groups)


def _leave_out(counts: np.ndarray) -> list[np.ndarray]:
    total = counts.sum(axis=1)
    return [total - counts[:, g] for g in range(counts.shape[1])]


def distinct_share(counts: np.ndarray) -> float | None:
    total = counts.sum()
    return float((counts > 0).sum() / total) if total else None


def top_share(counts: np.ndarray, top: int = 10) -> float | None:
    total = counts.sum()
    if not total:
        return None
    return float(np.sort(counts)[-top:].sum() / total)


def keyed_with_jackknife(counts: np.ndarray, statistic: Callable[[np.ndarray], float | None],
                         ) -> tuple[float | None, np.ndarray]:
    value = statistic(counts.sum(axis=1))
    loo = np.array([np.nan if (v := statistic(c)) is None else v for c in _leave_out(counts)])
    return value, loo


def embedding_with_jackknife(X: np.ndarray, group: np.ndarray, groups: int = GROUPS,
                             ) -> dict[str, tuple[float | None, np.ndarray]]:
    """Vendi score (q=1), mean pairwise cosine similarity and effective rank of unit rows,
    each with leave-group-out values from S - S_k (one small eigenproblem per group: a
    first-order perturbation of the full eigenvalues was measured to understate the
    jackknife error by 20%)."""
    n = len(X)
    empty: dict[str, tuple[float | None, np.ndarray]] = {k: (None, np.full(groups, np.nan)) for k in ("vendi", "cosine", "rank")}
    if n < 2:
        return empty
    S = X.T @ X
    total = X.sum(axis=0)
    full = embedding_stats(np.linalg.eigvalsh(S), total, n)
    loo = np.full((groups, 3), np.nan)
    for k in range(groups):
        members = group == k
        n_k = int(members.sum())
        if n - n_k < 2:
            continue
        Xk = X[members]
        loo[k] = embedding_stats(np.linalg.eigvalsh(S - Xk.T @ Xk), total - Xk.sum(axis=0),
                                  n - n_k)
    return {name: (full[i], loo[:, i]) for i, name in enumerate(("vendi", "cosine", "rank"))}


def embedding_stats(lam: np.ndarray, total: np.ndarray, n: int) -> tuple[float, float, float]:
    """From the eigenvalues of S = X'X (unit rows): Vendi of K/n, mean cosine, effective rank."""
    lam = np.clip(lam, 0.0, None)
    return (vendi_from_eigenvalues(lam / n, 1.0), float((total @ total - n) / (n * (n - 1))),
            effective_rank_from_singular_values(np.sqrt(lam)))
