"""Every window signal, declared once.

Exporters (names, series), the demo table, dashboards, recording rules and alerts, the
signal table of docs/signals.md, the window's gauges and the comparison engine all read this
list: a new signal is one entry here plus the function that computes it, then a regeneration
(``python -m collapse_otel.mixin``). Nothing else dispatches on a signal's key.

Each entry says which way collapse moves it (``collapse``: +1 up, -1 down), what kind of
estimate it is (``statistic``: a per-answer ``mean``, a ``proportion`` of the window's
answers, a ``corpus`` statistic of the fixed-size reservoir sample, or the ``dispersion`` of
the window's token counts), how it is computed with its standard error (``compute``, or the
counts of a ``proportion`` / the moments of a ``per_answer`` mean), how that error is
estimated (``uncertainty``), which test judges a change (``test``, with ``permuted`` for a
permutation test), and how a change is judged (relative, or absolute for ratios that sit
near 0, with the smallest change that matters).

``critical``: the margin past which one signal alone makes "collapse suspected" (its change's
interval, widened for the number of signals judged, lies wholly beyond it the collapse way).
It is the signal's floor, for the signals that measure the text's own diversity, and None for
the rest: answer lengths, retrieval and user feedback move for reasons other than collapse;
self-BLEU rises on the control that keeps human data too (+7% to +12% at its generation 3 on
three corpora); the coverage-standardised Hill numbers and deficits are not yet validated
against the simulation for it (docs/verdict.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from .accumulators import MomentStats, agresti_coull_se
from .resampling import distinct_share, top_share

FAMILIES: tuple[str, ...] = (
    "duplication", "repetition", "lexical diversity", "entity diversity",
    "semantic dispersion", "length and variance", "retrieval", "questions",
    "feedback and evaluation", "agent loops",
)
DEFAULT_EMBEDDER = "hashed"   # what semantic dispersion is computed on unless configured
RELATIVE_FLOOR = 0.05   # a relative change smaller than 5% is not worth a page ...
ABSOLUTE_FLOOR = 0.02   # ... nor an absolute one under 2 points for ratios near 0
# The sample coverage each kind of type is standardised to in a window (a comparison takes
# the smaller of its two samples' coverages instead): below what a 1,000-answer sample of
# human text reaches (measured on WikiText-2: words 0.94, bigrams 0.43, entities 0.57), so a
# window interpolates, and only a sample poorer in items extrapolates.
COVERAGE: Mapping[str, float] = MappingProxyType({"words": 0.9, "bigrams": 0.4, "entities": 0.5})


_DECLARED: dict[str, Signal] = {}   # key -> declaration, filled below (pickling)

STATISTICS = ("mean", "proportion", "corpus", "dispersion")
# The tests a comparison can judge a change by (the names the reports show). A signal whose
# declared test cannot run on a pair (too few answers, a side without counts) falls back to
# a z-test on the two windows' standard errors.
PERMUTATION = "permutation"        # needs ``permuted``: exchangeable answers, pooled and split
TWO_PROPORTIONS = "two-proportion z"   # needs ``proportion``: the counts on both sides
WELCH = "Welch t"                  # needs ``per_answer``: the values' moments on both sides
Z_JACKKNIFE = "z (jackknife)"      # the two windows' values and standard errors
Z_DELTA = "z (delta method)"       # likewise, errors from the delta method
TESTS = (PERMUTATION, TWO_PROPORTIONS, WELCH, Z_JACKKNIFE, Z_DELTA)
# How a statistic's standard error is estimated, unless its entry says otherwise.
UNCERTAINTY: Mapping[str, str] = MappingProxyType({
    "mean": "per-answer mean; textbook standard error",
    "proportion": "share of the window's answers",
    "corpus": "statistic of the 1,000-answer sample; delete-group jackknife",
    "dispersion": "window moments; delta-method standard error"})
Estimate = tuple[float | None, float | None]   # (value, standard error)


@dataclass(frozen=True)
class Signal:
    key: str                  # stable id: the `signal` label and the name in reports
    metric: str               # Prometheus family name
    labels: tuple[tuple[str, str], ...]   # labels that pick this signal within its family
    help: str                 # help text of the family
    title: str                # human name (dashboards, reports)
    description: str          # what it catches (dashboards, docs/signals.md)
    family: str               # one of FAMILIES
    collapse: int             # +1: collapse pushes it up; -1: down
    statistic: str            # mean | proportion | corpus | dispersion
    change: str = "relative"  # relative | absolute
    floor: float = RELATIVE_FLOOR
    verdict: bool = True      # judged by compare and the regression alerts
    critical: float | None = None   # a degradation surely beyond it: "collapse suspected"
    note: str = ""            # why it is not in the verdict (or not under every embedder)
    unit: str = "short"       # Grafana unit
    embedders: tuple[str, ...] = ()   # judged only on embeddings of these (empty: any)
    uncertainty: str = ""     # how its error is computed, when not the statistic's default
    # A share of counts, (count, of) from the window's inputs (None: not measured there):
    # its Agresti-Coull error in a window, a two-proportion z-test in a comparison.
    proportion: Callable[[Any], tuple[int, int] | None] | None = None
    # A per-answer mean, its values' moments from the window's inputs: the textbook error of
    # the mean in a window, a Welch test in a comparison.
    per_answer: Callable[[Any], MomentStats] | None = None
    audit: bool = False       # pushed per source by `collapse-otel audit` (every one is in its JSON)
    # Diversity at equal coverage: the kind of types counted (a key of COVERAGE) and the Hill
    # order (None: the coverage deficit of that kind).
    species: str = ""
    order: int | None = None
    lowest: float = 0.0       # the values it can take (plots never show the impossible)
    highest: float | None = None
    # How it is computed: the window's view (``window.WindowView``: ``inputs``, the window's
    # counts and moments, and ``sample``, its reservoir sample prepared once) -> (value,
    # standard error), or None when the window holds too little. Proportions with
    # ``proportion`` and means with ``per_answer`` need none.
    compute: Callable[[Any], Estimate | None] | None = None
    test: str = ""            # one of TESTS ("": the one the declaration allows, see below)
    # A permutation test: the pooled samples of a comparison (``compare.permutation.Pool``)
    # -> the statistic of a half and of the rest (a ``Permuted``), or None.
    permuted: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        """Fill in the test and the uncertainty the declaration implies, and refuse one
        that could not be computed or tested as declared."""
        if self.statistic not in STATISTICS:
            raise ValueError(f"{self.key}: statistic must be one of {STATISTICS}")
        if self.compute is None and self.proportion is None and self.per_answer is None:
            raise ValueError(f"{self.key}: declares no computation (compute, proportion or "
                             "per_answer)")
        if self.statistic == "mean" and self.per_answer is None:
            raise ValueError(f"{self.key}: a per-answer mean needs per_answer (its moments)")
        if not self.test:
            object.__setattr__(self, "test", self._implied_test())
        needs = {PERMUTATION: self.permuted, TWO_PROPORTIONS: self.proportion,
                 WELCH: self.per_answer}
        if self.test not in TESTS or needs.get(self.test, True) is None:
            raise ValueError(f"{self.key}: test {self.test!r} is not one of {TESTS} or lacks "
                             "what it needs (permuted, proportion or per_answer)")
        if not self.uncertainty:
            object.__setattr__(self, "uncertainty", UNCERTAINTY[self.statistic])

    def _implied_test(self) -> str:
        if self.permuted is not None:
            return PERMUTATION
        if self.per_answer is not None:
            return WELCH
        if self.proportion is not None:
            return TWO_PROPORTIONS
        return Z_DELTA if self.statistic == "dispersion" else Z_JACKKNIFE

    def estimate(self, view: Any) -> Estimate | None:
        """(value, standard error) in a window (``window.WindowView``), as declared."""
        if self.compute is not None:
            return self.compute(view)
        if self.proportion is not None:
            counts = self.proportion(view.inputs)
            return None if counts is None or not counts[1] else \
                (counts[0] / counts[1], agresti_coull_se(*counts))
        assert self.per_answer is not None   # __post_init__ requires one of the three ways
        moments = self.per_answer(view.inputs)
        return moments.mean(), moments.mean_se()

    @property
    def otel_name(self) -> str:
        return self.metric.replace("collapse_", "collapse.", 1)

    @property
    def selector(self) -> str:
        """PromQL label matchers that pick this signal within its family ("" if none)."""
        return ",".join(f'{k}="{v}"' for k, v in self.labels)

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickled by key and the fields that differ from the declaration (its computations
        are lambdas): comparisons cross process boundaries in ``make validate``."""
        base = _DECLARED.get(self.key)
        if base is None:
            return super().__reduce__()
        diff = {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}
        return _restore, (self.key, diff)

    def worse(self, change: float) -> bool:
        return change * self.collapse > 0

    def judged(self, embedder: str = DEFAULT_EMBEDDER) -> bool:
        """In the verdict when the answers were embedded by ``embedder`` (the embedding
        signals move under collapse with a sentence-embedding model only)."""
        return self.verdict and (not self.embedders or embedder in self.embedders)


def _moments(values: Iterable[float]) -> MomentStats:
    m = MomentStats()
    m.update_many(list(values))
    return m


def _s(key: str, metric: str, labels: tuple[tuple[str, str], ...], help_: str, title: str,
       description: str, family: str, collapse: int, statistic: str, **kw: Any) -> Signal:
    # kw: Signal's optional fields by name, each checked against its field's type by Signal
    if kw.get("unit") == "percentunit":   # a share: from 0 to 1
        kw.setdefault("highest", 1.0)
    return Signal(key, metric, labels, help_, title, description, family, collapse, statistic,
                  **kw)


_DUP_HELP = "Share of answers in the window that duplicate an earlier one."
_REP_HELP = ("Repeated 4-gram rate: within_answer = mean seq-rep-4, "
             "across_answers = 1 - distinct-4 of the sample.")
_DISTINCT_HELP = "distinct-n of the window sample (unique / total n-grams)."
_SAMPLE_NEAR_ZERO = dict(change="absolute", floor=ABSOLUTE_FLOOR, unit="percentunit")
# semantic dispersion: judged under the WordLlama embedder (COLLAPSE_OTEL_EMBEDDER=wordllama)
_MODEL_EMBEDDINGS = dict(
    embedders=("wordllama",),
    note="a hashed n-gram embedding repeats lexical diversity and also moves on the control "
         "that keeps the human data (-7% to -8% at generation 3, WikiText): judged on "
         "WordLlama embeddings, which do not (docs/embeddings.md)")

_HILL_HELP = ("Hill number of order q of the window sample's types (entities, words, word "
              "bigrams) at a fixed sample coverage: the effective number of distinct types "
              "(q=0 every type, q=1 the typical ones, q=2 the dominant ones).")
_DEFICIT_HELP = ("Coverage deficit (1 - Chao-Jost sample coverage) of the window sample's "
                 "types (words, word bigrams, entities, answer clusters): the chance that the next item is a type the sample never showed.")
_ORDER = {0: "richness", 1: "exp Shannon", 2: "inverse Simpson"}
_WHAT = {"entities": "entities", "words": "words", "bigrams": "word bigrams",
         "near_answers": "answers (near-duplicate clusters)"}
_HILL_HOW = ("statistic of the 1,000-answer sample at a fixed coverage; delete-group "
             "jackknife, every left-out sample at that coverage")
_WORD_NOTES = {0: "moves on the control that keeps the human data too (-7% and -6% at "
                  "generations 2 and 3, against -23% and -19% under collapse): q=1 separates "
                  "them (-2% and -4% against -18% and -15%)",
               1: "",
               2: "judged once, as q=1: the dominant words move least (-15% and -12% at "
                  "generations 2 and 3 under collapse)"}
_BIGRAM_NOTE = ("lexical diversity is judged by distinct-n at equal size and by words at "
                "equal coverage; shown to read n-gram types at equal coverage")
_POISSON = "statistic of the 1,000-answer sample; f1 as a Poisson count"
_CLUSTERED = ("statistic of the 1,000-answer sample; delete-group jackknife, every left-out "
              "sample's deficit at the whole sample's size")
_ENTITY_NOTE = ("judged once per family, as richness (q=0): q=1 and q=2 weigh the common "
                "entities more and move less under collapse")


def _hill(kind: str, prefix: str, q: int, family: str, **kw: object) -> Signal:
    return _s(f"{prefix}_hill_{q}", "collapse_hill_number", (("kind", kind), ("q", str(q))),
              _HILL_HELP, f"Distinct {_WHAT[kind]} at equal coverage (q={q})",
              f"Hill number of order {q} ({_ORDER[q]}) of the sample's {_WHAT[kind]} at "
              f"{COVERAGE[kind]:.0%} sample coverage (or at the coverage the sample reaches "
              "at twice its size, when lower): releases of different sizes compare fairly; "
              "lower = narrower.", family, -1, "corpus", uncertainty=_HILL_HOW, species=kind,
              order=q, compute=lambda v: v.sample.hill(kind, q), **kw)


def _deficit(kind: str, prefix: str, family: str, **kw: object) -> Signal:
    kw.setdefault("compute", lambda v: v.sample.deficit(kind))
    kw.setdefault("uncertainty", _CLUSTERED)
    return _s(f"{prefix}_coverage_deficit", "collapse_coverage_deficit", (("kind", kind),),
              _DEFICIT_HELP, f"Unseen {_WHAT[kind]} (coverage deficit)",
              f"1 - sample coverage of the sample's {_WHAT[kind]}: the estimated probability "
              f"that the next one is new; rare ones are the first to go under collapse.",
              family, -1, "corpus", unit="percentunit", species=kind, highest=1.0,
              permuted=lambda p: p.deficit(kind), **kw)


# Answers as species: the coverage deficit of the clusters of near duplicates (exact ones
# included), the chance that the next answer starts a new cluster. Real traffic repeats few
# answers (sample coverage 0.03 to 0.07 in benchmarks/calibration.py's population): there the
# clusters' Hill numbers had jackknife errors 4 to 15 times their real spread, and the exact
# clusters' deficit had no error that held (jackknife covering 100%, Poisson f1 87%), so
# neither is exported (docs/signals.md). Informational: the recursive-training simulation
# produces no duplicate answers.
_ANSWER_CLUSTERS: tuple[Signal, ...] = (
    _deficit("near_answers", "near_answer", "duplication", verdict=False,
             note="informational: every answer is its own cluster in the recursive-training "
                  "simulation, collapsing or not, so it has no measured margin; read next to "
                  "the duplicate ratios"),
)

SIGNALS: tuple[Signal, ...] = (
    _s("exact_duplicate_ratio", "collapse_duplicate_answer_ratio", (("kind", "exact"),),
       _DUP_HELP, "Exact duplicate ratio",
       "Answers whose normalised text equals another answer's in the window "
       "(1 - distinct texts / answers).",
       "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="1 - distinct texts / answers; jackknife over the window's text hashes",
       compute=lambda v: v.exact_duplicates(), critical=ABSOLUTE_FLOOR),
    _s("near_duplicate_ratio", "collapse_duplicate_answer_ratio", (("kind", "near"),),
       _DUP_HELP, "Near duplicate ratio",
       "Answers whose word 5-gram shingles overlap an earlier answer's by Jaccard >= 0.8.",
       "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="share of the window's answers; Agresti-Coull standard error",
       proportion=lambda w: (w.near, w.with_text),
       critical=ABSOLUTE_FLOOR),
    _s("cross_question_duplicate_ratio", "collapse_cross_question_duplicate_ratio", (),
       "Share of the window's answers with a known question that duplicate (exactly or "
       "nearly) an answer given to a different question.", "Cross-question duplicate ratio",
       "Duplicates of an answer given to another question: the same answer whatever is asked. "
       "An FAQ bot repeating its answer to the same question does not count (needs the "
       "question from capture).", "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="share of the window's answers with a question; binomial error widened "
                   "by the exact duplicates' design effect",
       compute=lambda v: v.cross_question_duplicates(), critical=ABSOLUTE_FLOOR),
    *_ANSWER_CLUSTERS,
    _s("repeated_ngram_within_answer", "collapse_repeated_ngram_ratio",
       (("scope", "within_answer"),), _REP_HELP, "Repeated 4-grams within answers",
       "Mean seq-rep-4 of the window's answers: generation loops push it up.",
       "repetition", +1, "mean", **_SAMPLE_NEAR_ZERO,
       per_answer=lambda w: w.seq,
       critical=ABSOLUTE_FLOOR),
    _s("repeated_ngram_across_answers", "collapse_repeated_ngram_ratio",
       (("scope", "across_answers"),), _REP_HELP, "Repeated 4-grams across answers",
       "1 - distinct-4 of the sample: templated phrasing pushes it up.",
       "repetition", +1, "corpus", verdict=False,
       note="1 - distinct-4 by definition: judged once, as distinct-4 (lexical diversity)",
       compute=lambda v: v.sample.repeated_across(4),
       permuted=lambda p: p.repeated_across(4), **_SAMPLE_NEAR_ZERO),
    _s("compression_ratio", "collapse_compression_ratio", (),
       "gzip compression ratio of the window sample; higher = more repetitive.",
       "Compression ratio", "gzip ratio of the sample's text; higher = more repetitive.",
       "repetition", +1, "corpus", audit=True,
       compute=lambda v: v.sample.compression(), permuted=lambda p: p.compression(),
       critical=RELATIVE_FLOOR),
    _s("self_repetition_score", "collapse_self_repetition_score", (),
       "Self-repetition score of the window sample (4-grams shared across answers).",
       "Self-repetition score", "4-grams each sampled answer shares with the others.",
       "repetition", +1, "corpus", verdict=False,
       note="follows answer length more than repetition: longer answers share more 4-grams, "
            "so a collapsed release with shorter answers scores lower (the demo's v3)",
       compute=lambda v: v.sample.self_repetition(), permuted=lambda p: p.self_repetition()),
    _s("self_bleu", "collapse_self_bleu", (),
       "Self-BLEU of the window sample: each answer's BLEU-4 against the others, averaged.",
       "Self-BLEU", "Each sampled answer's BLEU-4 against all the others (Texygen); higher = "
       "answers more alike.", "lexical diversity", +1, "corpus", highest=1.0,
       uncertainty="mean of the sampled answers' BLEU; jackknife of the mean", audit=True,
       # no permutation form: every split would rebuild the references
       compute=lambda v: v.sample.self_bleu()),
    *(_s(f"distinct_{n}", "collapse_distinct_ngram_ratio", (("n", str(n)),), _DISTINCT_HELP,
         f"Distinct {n}-grams", f"Unique / total {n}-grams of the sample; lower = narrower.",
         "lexical diversity", -1, "corpus", unit="percentunit", audit=n == 2,
         compute=lambda v, n=n: v.sample.distinct(n),
         permuted=lambda p, n=n: p.distinct(n), critical=RELATIVE_FLOOR)
      for n in (1, 2, 3, 4)),
    _s("ngram_diversity_score", "collapse_ngram_diversity_score", (),
       "Sum of distinct-1..4 over the concatenated window sample.", "N-gram diversity score",
       "Sum of distinct-1..4 of the sample's tokens end to end; lower = narrower vocabulary.",
       "lexical diversity", -1, "corpus",
       compute=lambda v: v.sample.ngram_diversity(), permuted=lambda p: p.ngram_diversity(),
       critical=RELATIVE_FLOOR),
    *(_hill("words", "word", q, "lexical diversity", verdict=q == 1, note=_WORD_NOTES[q])
      for q in (0, 1, 2)),
    _deficit("words", "word", "lexical diversity", verdict=True, audit=True,
             compute=lambda v: v.sample.deficit_poisson("words"), uncertainty=_POISSON),
    *(_hill("bigrams", "bigram", q, "lexical diversity", verdict=False, note=_BIGRAM_NOTE)
      for q in (0, 1, 2)),
    _deficit("bigrams", "bigram", "lexical diversity", verdict=False, note=_BIGRAM_NOTE),
    _s("entities_per_answer", "collapse_entities_per_answer", (),
       "Mean distinct entities per answer in the window sample.", "Entities per answer",
       "Named things (people, places, products, dates) an answer mentions.",
       "entity diversity", -1, "mean",
       per_answer=lambda w: _moments(len(set(i.entities)) for i in w.sample),
       critical=RELATIVE_FLOOR),
    *(_hill("entities", "entity", q, "entity diversity", verdict=q == 0,
            note=_ENTITY_NOTE if q else "") for q in (0, 1, 2)),
    _deficit("entities", "entity", "entity diversity", verdict=False,
             note="also falls on the control that keeps the human data (-17% and -11% at "
                  "generations 2 and 3, against -33% and -29% under collapse): too little "
                  "specificity"),
    _s("embedding_vendi_score", "collapse_embedding_vendi_score", (),
       "Vendi score (q=1) of the window sample's answer embeddings.", "Embedding Vendi score",
       "Effective number of distinct answers (q=1); lower = narrower.",
       "semantic dispersion", -1, "corpus", lowest=1.0, audit=True, **_MODEL_EMBEDDINGS,
       compute=lambda v: v.sample.embedding("vendi"),
       permuted=lambda p: p.embedding("vendi"), critical=RELATIVE_FLOOR),
    _s("embedding_mean_cosine_similarity", "collapse_embedding_mean_cosine_similarity", (),
       "Mean pairwise cosine similarity of the window sample's answer embeddings.",
       "Mean pairwise cosine similarity", "Mean cosine similarity of the sampled answers' "
       "embeddings, pair by pair (-1 to 1); higher = answers more alike.",
       "semantic dispersion", +1, "corpus", lowest=-1.0, highest=1.0, **_MODEL_EMBEDDINGS,
       compute=lambda v: v.sample.embedding("cosine"),
       permuted=lambda p: p.embedding("cosine"), critical=RELATIVE_FLOOR),
    _s("embedding_effective_rank", "collapse_embedding_effective_rank", (),
       "Effective rank of the window sample's answer embeddings.", "Embedding effective rank",
       "Effective rank of the answer embeddings; lower = narrower.",
       "semantic dispersion", -1, "corpus", verdict=False,
       note="hardly moves under collapse (-0.2% to -0.9% per generation in the recursive-"
            "training simulation, against -10% for the Vendi score)",
       compute=lambda v: v.sample.embedding("rank"), permuted=lambda p: p.embedding("rank")),
    _s("completion_tokens_cv", "collapse_completion_tokens_cv", (),
       "Coefficient of variation of completion tokens in the window.", "Completion tokens CV",
       "Spread of answer lengths; shrinking variance is a collapse sign.",
       "length and variance", -1, "dispersion",
       compute=lambda v: (v.inputs.completion.get(), v.inputs.completion.cv_se())),
    _s("context_distinct_ratio", "collapse_context_distinct_ratio", (),
       "Distinct retrieved context ids / retrieved ids in the window sample.",
       "Distinct retrieved contexts", "Distinct retrieved context ids / retrieved ids.",
       "retrieval", -1, "corpus", unit="percentunit",
       compute=lambda v: v.sample.contexts(distinct_share),
       permuted=lambda p: p.contexts(distinct_share)),
    _s("context_top10_share", "collapse_context_top10_share", (),
       "Share of the window sample's retrievals taken by the 10 most retrieved context ids.",
       "Top-10 context share", "Share of retrievals taken by the 10 most retrieved ids.",
       "retrieval", +1, "corpus", unit="percentunit",
       compute=lambda v: v.sample.contexts(top_share), permuted=lambda p: p.contexts(top_share)),
    _s("question_distinct_ratio", "collapse_question_distinct_ratio", (),
       "Distinct questions / answers with a known question in the window.",
       "Distinct questions", "How varied the users' questions are: tells a change in what "
       "users ask from a change in the model.", "questions", -1, "proportion",
       unit="percentunit", verdict=False,
       note="describes the users, not the model: read next to the duplicate ratios",
       uncertainty="1 - repeated questions / questions; jackknife over the question hashes",
       compute=lambda v: v.distinct_questions()),
    _s("thumbs_down_ratio", "collapse_thumbs_down_ratio", (),
       "Thumbs down / ratings (thumbs up or down) in the window.", "Thumbs-down rate",
       "Users' thumbs down among the window's ratings (record_feedback); what users "
       "think of the answers, next to what the text signals see.", "feedback and evaluation",
       +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="share of the window's ratings; Agresti-Coull standard error",
       proportion=lambda w: None if w.feedback is None else (w.feedback[1], sum(w.feedback))),
    _s("evaluation_fail_ratio", "collapse_evaluation_fail_ratio", (),
       "Failed / passed + failed evaluation results in the window (all evaluators).",
       "Evaluation fail rate", "Evaluation results that failed, among those that passed or "
       "failed (record_evaluation, gen_ai.evaluation.result events); unknown results are "
       "left out. Pooled over evaluators: keep the set of evaluators the same across "
       "releases.", "feedback and evaluation", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="share of the window's pass / fail results; Agresti-Coull standard error",
       proportion=lambda w: None if w.evaluations is None else
       (w.evaluations[1], sum(w.evaluations[:2]))),
    _s("agent_loop_ratio", "collapse_agent_loop_ratio", (),
       "Agent turns that loop / agent turns in the window (a turn with a tool call, more than "
       "one LLM call, or a step limit).", "Agent loop rate",
       "Agent turns that loop: 3 consecutive near-identical LLM outputs, 3 calls of a tool with "
       "the same arguments, or a turn cut by a retry or step limit (LangGraph's recursion "
       "limit). An agent stuck retrying near-identical bad answers (docs/agent-loops.md).",
       "agent loops", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       uncertainty="share of the window's agent turns; Agresti-Coull standard error",
       proportion=lambda w: w.loops),
)

BY_KEY: Mapping[str, Signal] = MappingProxyType({s.key: s for s in SIGNALS})
_DECLARED.update(BY_KEY)


def _restore(key: str, diff: dict[str, Any]) -> Signal:
    return replace(BY_KEY[key], **diff) if diff else BY_KEY[key]


def verdict_signals(embedder: str = DEFAULT_EMBEDDER) -> tuple[Signal, ...]:
    """The signals judged when answers are embedded by ``embedder``."""
    return tuple(s for s in SIGNALS if s.judged(embedder))


VERDICT_SIGNALS: tuple[Signal, ...] = verdict_signals()   # under the default embedder


def families() -> dict[str, tuple[Signal, ...]]:
    """Family -> its signals, in FAMILIES order."""
    return {f: tuple(s for s in SIGNALS if s.family == f) for f in FAMILIES}


def metric_families() -> dict[str, tuple[Signal, ...]]:
    """Prometheus family name -> the signals it carries, in declaration order."""
    out: dict[str, list[Signal]] = {}
    for s in SIGNALS:
        out.setdefault(s.metric, []).append(s)
    return {m: tuple(v) for m, v in out.items()}
