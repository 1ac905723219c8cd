"""Every window gauge of one stream, with its standard error, from the window's sketches.

Runs on the worker outside the aggregator's lock (``Aggregator.refresh``). Per-answer means
and proportions get textbook standard errors from the window's counts and moments; corpus
statistics are computed on the fixed-size reservoir sample and get a delete-group jackknife
(``signals.resampling``); the spread of answer lengths gets a delta-method error from the
first four moments. Keys are those of ``collapse_otel.registry``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .registry import COVERAGE, SIGNALS
from .signals import coverage as C
from .signals import resampling as R
from .signals import tail as T
from .signals.accumulators import MomentStats
from .signals.answer_sample import SampledAnswer, embedding_matrix
from .signals.gram_table import GramTables
from .snapshot import WindowSignals
from .text.hashing import TokenHasher
from .text.normalize import word_bytes

STREAMING_GZIP_LEVEL = 6
_HASHER = TokenHasher()


@dataclass(frozen=True)
class WindowInputs:
    answers: int
    with_text: int
    exact: int
    near: int
    seq: MomentStats              # seq-rep-4 of the window's answers
    completion: MomentStats       # completion tokens of the window's answers
    sample: list[SampledAnswer]   # the reservoir sample of the window
    text_hashes: np.ndarray | None = None   # every window answer's text hash, in order
    with_question: int = 0        # answers with text whose question is known
    cross_question: int = 0       # of which duplicate an answer to another question
    question_hashes: np.ndarray | None = None   # their question hashes
    feedback: tuple[int, int] | None = None     # thumbs (up, down); None: the stream has none
    evaluations: tuple[int, int, int] | None = None   # (pass, fail, unknown) results
    loops: tuple[int, int] | None = None   # (looping, all) agent turns; None: the stream has none
    embedder: str = "hashed"      # what embedded the sample (hashed, a bundled model, custom)


def compute_window(w: WindowInputs, coverage: Mapping[str, float] | None = None,
                   ) -> WindowSignals:
    """Every signal of the window; the Hill numbers at the registry's coverage per kind of
    type, or at ``coverage`` (a comparison's common coverage)."""
    values: dict[str, float] = {}
    stderr: dict[str, float] = {}

    def put(key: str, value: float | None, se: float | None = None) -> None:
        # + 0.0 turns -0.0 (a cosine or a difference that rounds to nothing) into 0.0: the
        # exposition would print "-0.0"
        if value is not None and math.isfinite(value):
            values[key] = float(value) + 0.0
            if se is not None and math.isfinite(se):
                stderr[key] = float(se) + 0.0

    for s in SIGNALS:     # the registry's proportions and per-answer means
        if s.proportion is not None:
            counts = s.proportion(w)
            if counts is not None and counts[1]:
                put(s.key, counts[0] / counts[1], proportion_se(*counts))
        elif s.per_answer is not None:
            moments = s.per_answer(w)
            put(s.key, moments.mean(), moments.mean_se())
    clustering = 1.0     # variance of the duplicate share / its binomial variance
    if w.text_hashes is not None and len(w.text_hashes) >= 2:
        # repeats cluster (one canned reply repeated many times), so not binomial: the
        # jackknife over the window's text hashes (measured: binomial errors covered 89%)
        value, loo = R.repeated_share(w.text_hashes)
        se = R.jackknife_se(loo)
        put("exact_duplicate_ratio", value, se)
        n = len(w.text_hashes)
        binomial = proportion_se(round(value * n), n) if value is not None else None
        if se is not None and binomial:
            clustering = max(1.0, (se / binomial) ** 2)
    elif w.with_text:
        put("exact_duplicate_ratio", w.exact / w.with_text, proportion_se(w.exact, w.with_text))
    if w.with_question:
        # the same clusters of repeats make these duplicates: the binomial error widened by
        # the duplicates' design effect (measured: the binomial error alone covered 87-96%)
        put("cross_question_duplicate_ratio", w.cross_question / w.with_question,
            proportion_se(w.cross_question, w.with_question) * math.sqrt(clustering))
    if w.question_hashes is not None and len(w.question_hashes) >= 2:
        repeated, loo = R.repeated_share(w.question_hashes)
        put("question_distinct_ratio", 1.0 - repeated, R.jackknife_se(1.0 - loo))
    put("completion_tokens_cv", w.completion.get(), w.completion.cv_se())
    for key, (value, spread) in sample_statistics(w.sample, coverage=coverage).items():
        # leave-group-out values, or a standard error already (the word coverage deficit)
        put(key, value, float(spread) if np.ndim(spread) == 0 else R.jackknife_se(spread))
    feedback, evaluations = _outcomes(w)
    turns = {} if w.loops is None else {"true": w.loops[0], "false": w.loops[1] - w.loops[0]}
    return WindowSignals(
        window_answers=w.answers, window_answers_with_text=w.with_text,
        sample_answers=len(w.sample), values=MappingProxyType(values),
        stderr=MappingProxyType(stderr), feedback=feedback, evaluations=evaluations,
        agent_turns=MappingProxyType(turns))


def _outcomes(w: WindowInputs) -> tuple[MappingProxyType, MappingProxyType]:
    """The counts behind the window's thumbs-down and evaluation fail rates."""
    feedback, evaluations = {}, {}
    if w.feedback is not None:
        up, down = w.feedback
        feedback = {"up": up, "down": down}
    if w.evaluations is not None:
        passed, failed, unknown = w.evaluations
        evaluations = {"pass": passed, "fail": failed, "unknown": unknown}
    return MappingProxyType(feedback), MappingProxyType(evaluations)


def proportion_se(count: int, n: int) -> float:
    """Agresti-Coull standard error: p~ = (x + 2) / (n + 4), sqrt(p~(1 - p~) / (n + 4)).
    Unlike sqrt(p(1-p)/n) it is not 0 when no answer (or every answer) is a duplicate, so a
    release with no duplicates still has an interval to compare against."""
    p = (count + 2) / (n + 4)
    return math.sqrt(p * (1 - p) / (n + 4))


def sample_statistics(sample: list[SampledAnswer], groups: int = R.GROUPS,
                      coverage: Mapping[str, float] | None = None,
                      ) -> dict[str, tuple[float | None, np.ndarray]]:
    """Every corpus statistic of the sample with its leave-group-out values (or a standard
    error), the Hill numbers at the registry's coverage per kind of type or at ``coverage``."""
    groups = min(groups, len(sample))
    if groups < 2:
        return {}
    group = np.arange(len(sample)) % groups
    texts = [item.text for item in sample]
    batch = _HASHER.batch([word_bytes(t) for t in texts])
    tables = GramTables(batch, group, groups)
    out: dict[str, tuple[float | None, np.ndarray]] = {}
    diversity, diversity_loo = 0.0, np.zeros(groups)
    for n in (1, 2, 3, 4):
        out[f"distinct_{n}"] = R.distinct_within(tables, n)
        joined, joined_loo = R.distinct_joined(tables, n)
        diversity += joined or 0.0
        diversity_loo = diversity_loo + np.nan_to_num(joined_loo, nan=0.0) \
            if joined is not None else diversity_loo
    if out["distinct_1"][0] is not None:
        out["ngram_diversity_score"] = (diversity, diversity_loo)
    d4, d4_loo = out["distinct_4"]
    if d4 is not None:
        out["repeated_ngram_across_answers"] = (1.0 - d4, 1.0 - d4_loo)
    out["self_repetition_score"] = R.self_repetition(tables, 4)
    out["self_bleu"] = T.self_bleu(tables)
    out["compression_ratio"] = R.chunked_compression(texts, group, STREAMING_GZIP_LEVEL, groups)
    coverage = {**COVERAGE, **(coverage or {})}
    for kind, n in (("words", 1), ("bigrams", 2)):
        t = tables.order(n)
        if t.total:
            types = int(t.gram_start.sum())
            counts = np.bincount(t.gram_of_row() * groups + t.grp, weights=t.count,
                                 minlength=types * groups).reshape(types, groups)
            out.update(_at_coverage(kind, counts, coverage[kind]))
    entities = R.count_matrix([item.entities for item in sample], group, groups)
    if len(entities):
        out.update(_at_coverage("entities", entities, coverage["entities"]))
    contexts = R.count_matrix([item.contexts for item in sample], group, groups)
    if len(contexts):
        out["context_distinct_ratio"] = R.keyed_with_jackknife(contexts, R.distinct_share)
        out["context_top10_share"] = R.keyed_with_jackknife(contexts, R.top_share)
    has_row = np.fromiter((bool(item.embedding) for item in sample), dtype=bool,
                          count=len(sample))
    X = embedding_matrix(sample)
    if len(X) >= 2 and len(X) == int(has_row.sum()):
        emb = R.embedding_with_jackknife(X, group[has_row], groups)
        out["embedding_vendi_score"] = emb["vendi"]
        out["embedding_mean_cosine_similarity"] = emb["cosine"]
        out["embedding_effective_rank"] = emb["rank"]
    return {k: v for k, v in out.items() if v[0] is not None}


def _at_coverage(kind: str, counts: np.ndarray, target: float,
                 ) -> dict[str, tuple[float | None, np.ndarray]]:
    """The registry's signals of one kind of type from its types x groups count matrix: Hill
    numbers at coverage ``target`` (or the one the sample reaches within twice its size) and
    the coverage deficit, each with its leave-group-out values."""
    r = C.with_jackknife(counts, target)
    out: dict[str, tuple[float | None, np.ndarray]] = {}
    if not r:
        return out
    for s in SIGNALS:
        if s.species != kind:
            continue
        if s.order is not None:
            out[s.key] = r[f"q{s.order}"]
        elif kind == "words":
            # f1 as a Poisson count (measured: the jackknife was 40% too wide, leaving a
            # group out turns its doubletons into singletons); bigrams and entity mentions
            # cluster in answers (an answer's bigrams overlap; one names the same place
            # twice): the answer-level jackknife (Poisson errors covered 57% of bigram windows)
            out[s.key] = (r["deficit"][0], C.deficit_se(counts.sum(axis=1)))
        else:
            out[s.key] = r["deficit"]
    return out
