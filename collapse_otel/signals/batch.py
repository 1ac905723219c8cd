"""Exact batch definitions of every collapse signal.

Pure functions on token lists or vectors, written for clarity: they are the oracles the
streaming forms are tested against, and they reproduce the reference values in tests/data/reference.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from .coverage import Abundance


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(token_lists: Iterable[Sequence[str]], n: int) -> float:
    """Unique n-grams / total n-grams, n-grams taken within each token list. 0.0 when none."""
    total = 0
    seen: set[tuple[str, ...]] = set()
    for tokens in token_lists:
        grams = ngrams(tokens, n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def seq_rep_n(tokens: Sequence[str], n: int = 4) -> float:
    """1 - unique n-grams / n-grams within one answer (Welleck et al. 2019). 0.0 when none."""
    grams = ngrams(tokens, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def mean_seq_rep_n(token_lists: Iterable[Sequence[str]], n: int = 4) -> float:
    """Mean seq-rep-n over the answers that have at least one n-gram."""
    values = [seq_rep_n(t, n) for t in token_lists if len(t) >= n]
    return sum(values) / len(values) if values else 0.0


def ngram_diversity_score(tokens: Sequence[str], num_n: int = 4) -> float:
    """Sum over n = 1..num_n of distinct-n of one (concatenated) token sequence."""
    return sum(distinct_n([tokens], n) for n in range(1, num_n + 1))


def self_repetition_score(token_lists: Sequence[Sequence[str]], n: int = 4) -> float:
    """mean_d ln(1 + sum over unique n-grams g of d of (df(g) - 1)) (Salkar et al.)."""
    if not token_lists:
        return 0.0
    doc_grams = [set(ngrams(tokens, n)) for tokens in token_lists]
    df = Counter(g for grams in doc_grams for g in grams)
    scores = [math.log(1 + sum(df[g] - 1 for g in grams)) for grams in doc_grams]
    return sum(scores) / len(scores)


def compression_ratio(texts: Sequence[str], level: int = 9) -> float:
    """bytes(' '.join(texts)) / bytes(gzip of it) (Shaib et al.); higher = more repetitive.

    Level 9 is the reference definition; the streaming gauge uses level 6 (half the CPU on
    repetitive text, ratios within about 1.5% of level 9)."""
    raw = " ".join(texts).encode("utf-8", "surrogatepass")
    if not raw:
        return 0.0
    return len(raw) / len(gzip.compress(raw, compresslevel=level, mtime=0))


def chunked_compression_ratio(texts: Sequence[str], groups: int = 20, level: int = 6) -> float:
    """The window gauge's form: the texts dealt into ``groups`` (text i to group i mod groups),
    each group compressed on its own; total raw bytes / total compressed bytes. Each group is
    about deflate's 32 KB window for a 1,000-answer sample, so little is lost against one
    stream, and a group can be left out to estimate the spread."""
    raw = packed = 0
    for g in range(min(groups, len(texts))):
        data = " ".join(texts[g::groups]).encode("utf-8", "surrogatepass")
        raw += len(data)
        packed += len(gzip.compress(data, compresslevel=level, mtime=0))
    return raw / packed if packed else 0.0


def exact_duplicate_rate(normalized_texts: Sequence[str]) -> float:
    """Share of texts equal to an earlier text."""
    seen: set[str] = set()
    dups = 0
    for text in normalized_texts:
        dups += text in seen
        seen.add(text)
    return dups / len(normalized_texts) if normalized_texts else 0.0


def jaccard(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """|A & B| / |A | B|; 1.0 for two empty sets."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def _unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    keep = norms[:, 0] > 0
    result: np.ndarray = X[keep] / norms[keep]
    return result


def _kernel_eigenvalues(X: np.ndarray) -> np.ndarray:
    """Eigenvalues of K/n, K = X X^T of unit rows (computed as those of X^T X / n)."""
    X = _unit_rows(X)
    if len(X) == 0:
        return np.zeros(0)
    lam = np.linalg.eigvalsh(X.T @ X / len(X))
    return np.clip(lam, 0.0, None)


def vendi_from_eigenvalues(lam: np.ndarray, q: float = 1.0) -> float:
    lam = lam[lam > 1e-12]
    if len(lam) == 0:
        return 0.0
    lam = lam / lam.sum()
    if q == 1.0:
        return float(np.exp(-(lam * np.log(lam)).sum()))
    if math.isinf(q):
        return float(1.0 / lam.max())
    return float(np.exp(np.log((lam ** q).sum()) / (1.0 - q)))


def vendi_score(X: np.ndarray, q: float = 1.0) -> float:
    """Vendi score of order q (Friedman & Dieng 2023) with the cosine kernel of the rows of X."""
    return vendi_from_eigenvalues(_kernel_eigenvalues(X), q)


def mean_pairwise_cosine_similarity(X: np.ndarray) -> float:
    """Mean cosine similarity over ordered pairs i != j."""
    X = _unit_rows(X)
    n = len(X)
    if n < 2:
        return 0.0
    s = X.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def effective_rank_from_singular_values(sv: np.ndarray) -> float:
    sv = sv[sv > 1e-12]
    if len(sv) == 0:
        return 0.0
    p = sv / sv.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def effective_rank(X: np.ndarray) -> float:
    """exp(entropy of normalised singular values) of the unit-row matrix (Roy & Vetterli 2007)."""
    X = _unit_rows(X)
    if len(X) == 0:
        return 0.0
    return effective_rank_from_singular_values(np.linalg.svd(X, compute_uv=False))


def entropy_bits(counts: Iterable[int]) -> float:
    c = np.asarray([x for x in counts if x > 0], dtype=np.float64)
    if c.sum() == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def entity_diversity(entity_lists: Sequence[Sequence[str]]) -> tuple[float, float, float]:
    """(mean distinct entities per answer, distinct / mentions, entropy of mentions in bits)."""
    if not entity_lists:
        return 0.0, 0.0, 0.0
    mentions = Counter(e for ents in entity_lists for e in ents)
    total = sum(mentions.values())
    per_answer = sum(len(set(ents)) for ents in entity_lists) / len(entity_lists)
    ratio = len(mentions) / total if total else 0.0
    return per_answer, ratio, entropy_bits(mentions.values())


def hill_at_coverage(keys: Iterable[Hashable], coverage: float,
                     ) -> tuple[float, float, float] | None:
    """Hill numbers of order 0, 1, 2 of the keys' counts at sample coverage ``coverage``
    (counted with a Counter: the oracle of the streaming count matrices)."""
    r = Abundance(np.array(list(Counter(keys).values()), dtype=np.int64)).at_coverage(coverage)
    return None if r is None else r.hill


def context_diversity(context_id_lists: Sequence[Sequence[str]]) -> tuple[float, float]:
    """(distinct retrieved ids / retrieved ids, share of retrievals taken by the top-10 ids)."""
    counts = Counter(i for ids in context_id_lists for i in ids)
    total = sum(counts.values())
    if not total:
        return 0.0, 0.0
    top10 = sum(c for _, c in counts.most_common(10))
    return len(counts) / total, top10 / total


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Population standard deviation / mean; 0.0 for an empty or zero-mean sample."""
    if not values:
        return 0.0
    a = np.asarray(values, dtype=np.float64)
    mean = a.mean()
    return float(a.std() / mean) if mean > 0 else 0.0
