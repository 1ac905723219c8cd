"""Every window signal, declared once.

Exporters (names, series), the demo table, dashboards, recording rules and alerts, the
README's signal table and the comparison engine all read this list; a new signal is one entry
here plus the code that computes it (``stream.compute_window``).

Each entry says which way collapse moves it (``collapse``: +1 up, -1 down), how it is
estimated (``statistic``: a per-answer ``mean`` with a textbook standard error, a
``proportion`` of the window's answers, a ``corpus`` statistic of the fixed-size reservoir
sample whose spread comes from a delete-group jackknife, or the ``dispersion`` of the window's
token counts), and how a change is judged (relative, or absolute for ratios that sit near 0,
with the smallest change that matters).

``critical``: the margin past which one signal alone makes "collapse suspected" (its change's
interval, widened for the number of signals judged, lies wholly beyond it the collapse way).
It is the signal's floor, for the signals that measure the text's own diversity (duplication,
repetition, lexical and entity diversity, semantic dispersion), and None for the rest: answer
lengths, retrieval and user feedback move for reasons other than collapse; self-BLEU rises on
the control too (+7% to +12% at its generation 3 on all three corpora), so it counts through
its family only. Measured on
recursive-training simulations over three corpora (docs/verdict.md): a model trained on its own
samples clears the floor this way at every step, the control that keeps human data does not
from its third generation on, and random halves of one corpus never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

FAMILIES: tuple[str, ...] = (
    "duplication", "repetition", "lexical diversity", "entity diversity",
    "semantic dispersion", "length and variance", "retrieval", "questions",
    "feedback and evaluation",
)
RELATIVE_FLOOR = 0.05   # a relative change smaller than 5% is not worth a page ...
ABSOLUTE_FLOOR = 0.02   # ... nor an absolute one under 2 points for ratios near 0


@dataclass(frozen=True)
class Signal:
    key: str                  # stable id: the `signal` label and the name in reports
    metric: str               # Prometheus family name
    labels: tuple[tuple[str, str], ...]   # labels that pick this signal within its family
    help: str                 # help text of the family
    title: str                # human name (dashboards, reports)
    description: str          # what it catches (dashboards, README)
    family: str               # one of FAMILIES
    collapse: int             # +1: collapse pushes it up; -1: down
    statistic: str            # mean | proportion | corpus | dispersion
    change: str = "relative"  # relative | absolute
    floor: float = RELATIVE_FLOOR
    verdict: bool = True      # judged by compare and the regression alerts
    critical: float | None = None   # a degradation surely beyond it: "collapse suspected"
    note: str = ""            # why it is not in the verdict
    unit: str = "short"       # Grafana unit

    @property
    def otel_name(self) -> str:
        return self.metric.replace("collapse_", "collapse.", 1)

    @property
    def selector(self) -> str:
        """PromQL label matchers that pick this signal within its family ("" if none)."""
        return ",".join(f'{k}="{v}"' for k, v in self.labels)

    def worse(self, change: float) -> bool:
        return change * self.collapse > 0


def _s(key: str, metric: str, labels: tuple[tuple[str, str], ...], help_: str, title: str,
       description: str, family: str, collapse: int, statistic: str, **kw: object) -> Signal:
    return Signal(key, metric, labels, help_, title, description, family, collapse, statistic,
                  **kw)


_DUP_HELP = "Share of answers in the window that duplicate an earlier one."
_REP_HELP = ("Repeated 4-gram rate: within_answer = mean seq-rep-4, "
             "across_answers = 1 - distinct-4 of the sample.")
_DISTINCT_HELP = "distinct-n of the window sample (unique / total n-grams)."
_SAMPLE_NEAR_ZERO = dict(change="absolute", floor=ABSOLUTE_FLOOR, unit="percentunit")

SIGNALS: tuple[Signal, ...] = (
    _s("exact_duplicate_ratio", "collapse_duplicate_answer_ratio", (("kind", "exact"),),
       _DUP_HELP, "Exact duplicate ratio",
       "Answers whose normalised text equals another answer's in the window "
       "(1 - distinct texts / answers).",
       "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO, critical=ABSOLUTE_FLOOR),
    _s("near_duplicate_ratio", "collapse_duplicate_answer_ratio", (("kind", "near"),),
       _DUP_HELP, "Near duplicate ratio",
       "Answers whose word 5-gram shingles overlap an earlier answer's by Jaccard >= 0.8.",
       "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO, critical=ABSOLUTE_FLOOR),
    _s("cross_question_duplicate_ratio", "collapse_cross_question_duplicate_ratio", (),
       "Share of the window's answers with a known question that duplicate (exactly or "
       "nearly) an answer given to a different question.", "Cross-question duplicate ratio",
       "Duplicates of an answer given to another question: the same answer whatever is asked. "
       "An FAQ bot repeating its answer to the same question does not count (needs the "
       "question from capture).", "duplication", +1, "proportion", **_SAMPLE_NEAR_ZERO,
       critical=ABSOLUTE_FLOOR),
    _s("repeated_ngram_within_answer", "collapse_repeated_ngram_ratio",
       (("scope", "within_answer"),), _REP_HELP, "Repeated 4-grams within answers",
       "Mean seq-rep-4 of the window's answers: generation loops push it up.",
       "repetition", +1, "mean", **_SAMPLE_NEAR_ZERO, critical=ABSOLUTE_FLOOR),
    _s("repeated_ngram_across_answers", "collapse_repeated_ngram_ratio",
       (("scope", "across_answers"),), _REP_HELP, "Repeated 4-grams across answers",
       "1 - distinct-4 of the sample: templated phrasing pushes it up.",
       "repetition", +1, "corpus", verdict=False,
       note="1 - distinct-4 by definition: judged once, as distinct-4 (lexical diversity)",
       **_SAMPLE_NEAR_ZERO),
    _s("compression_ratio", "collapse_compression_ratio", (),
       "gzip compression ratio of the window sample; higher = more repetitive.",
       "Compression ratio", "gzip ratio of the sample's text; higher = more repetitive.",
       "repetition", +1, "corpus", critical=RELATIVE_FLOOR),
    _s("self_repetition_score", "collapse_self_repetition_score", (),
       "Self-repetition score of the window sample (4-grams shared across answers).",
       "Self-repetition score", "4-grams each sampled answer shares with the others.",
       "repetition", +1, "corpus", verdict=False,
       note="follows answer length more than repetition: longer answers share more 4-grams, "
            "so a collapsed release with shorter answers scores lower (the demo's v3)"),
    _s("self_bleu", "collapse_self_bleu", (),
       "Self-BLEU of the window sample: each answer's BLEU-4 against the others, averaged.",
       "Self-BLEU", "Each sampled answer's BLEU-4 against all the others (Texygen); higher = "
       "answers more alike.", "lexical diversity", +1, "corpus"),   # no critical: see below
    *(_s(f"distinct_{n}", "collapse_distinct_ngram_ratio", (("n", str(n)),), _DISTINCT_HELP,
         f"Distinct {n}-grams", f"Unique / total {n}-grams of the sample; lower = narrower.",
         "lexical diversity", -1, "corpus", unit="percentunit", critical=RELATIVE_FLOOR)
      for n in (1, 2, 3, 4)),
    _s("ngram_diversity_score", "collapse_ngram_diversity_score", (),
       "Sum of distinct-1..4 over the concatenated window sample.", "N-gram diversity score",
       "Sum of distinct-1..4 of the sample's tokens end to end; lower = narrower vocabulary.",
       "lexical diversity", -1, "corpus", critical=RELATIVE_FLOOR),
    _s("word_tail_mass", "collapse_tail_mass", (("kind", "words"),),
       "Good-Turing tail mass of the window sample: share of occurrences whose item occurs once.",
       "Words seen once (tail mass)", "Share of the sample's words that occur once: the "
       "estimated probability of an unseen word; rare outputs are the first to go.",
       "lexical diversity", -1, "corpus", unit="percentunit", critical=RELATIVE_FLOOR),
    _s("entities_per_answer", "collapse_entities_per_answer", (),
       "Mean distinct entities per answer in the window sample.", "Entities per answer",
       "Named things (people, places, products, dates) an answer mentions.",
       "entity diversity", -1, "mean", critical=RELATIVE_FLOOR),
    _s("entity_diversity_ratio", "collapse_entity_diversity_ratio", (),
       "Expected distinct entities among 500 mentions drawn from the sample, / 500.",
       "Entity diversity (per 500 mentions)",
       "Rarefied entity richness: the same number of mentions on both sides, so it does not "
       "depend on sample size (undefined below 500 mentions; entities per answer then "
       "carries the family).", "entity diversity", -1, "corpus", unit="percentunit",
       critical=RELATIVE_FLOOR),
    _s("entity_entropy_bits", "collapse_entity_entropy", (),
       "Entropy of the entity distribution in the window sample, in bits.", "Entity entropy",
       "Entropy of the sample's entity mentions in bits.", "entity diversity", -1, "corpus",
       verdict=False, note="grows with the number of mentions, so it is not comparable across "
                           "samples that name different amounts of entities"),
    _s("entity_tail_mass", "collapse_tail_mass", (("kind", "entities"),),
       "Good-Turing tail mass of the window sample: share of occurrences whose item occurs once.",
       "Entities named once (tail mass)", "Share of the sample's entity mentions naming an "
       "entity mentioned once: the rare names.", "entity diversity", -1, "corpus",
       unit="percentunit", verdict=False,
       note="also falls on the control that keeps the human data (-9% to -12% per early "
            "generation, against -21% to -29% under collapse): too little specificity"),
    _s("embedding_vendi_score", "collapse_embedding_vendi_score", (),
       "Vendi score (q=1) of the window sample's answer embeddings.", "Embedding Vendi score",
       "Effective number of distinct answers (q=1); lower = narrower.",
       "semantic dispersion", -1, "corpus", critical=RELATIVE_FLOOR),
    _s("embedding_mean_cosine_similarity", "collapse_embedding_mean_cosine_similarity", (),
       "Mean pairwise cosine similarity of the window sample's answer embeddings.",
       "Mean pairwise cosine similarity", "Higher = answers more alike.",
       "semantic dispersion", +1, "corpus", critical=RELATIVE_FLOOR),
    _s("embedding_effective_rank", "collapse_embedding_effective_rank", (),
       "Effective rank of the window sample's answer embeddings.", "Embedding effective rank",
       "Effective rank of the answer embeddings; lower = narrower.",
       "semantic dispersion", -1, "corpus", verdict=False,
       note="hardly moves under collapse (-0.2% to -0.9% per generation in the recursive-"
            "training simulation, against -10% for the Vendi score)"),
    _s("completion_tokens_cv", "collapse_completion_tokens_cv", (),
       "Coefficient of variation of completion tokens in the window.", "Completion tokens CV",
       "Spread of answer lengths; shrinking variance is a collapse sign.",
       "length and variance", -1, "dispersion"),
    _s("context_distinct_ratio", "collapse_context_distinct_ratio", (),
       "Distinct retrieved context ids / retrieved ids in the window sample.",
       "Distinct retrieved contexts", "Distinct retrieved context ids / retrieved ids.",
       "retrieval", -1, "corpus", unit="percentunit"),
    _s("context_top10_share", "collapse_context_top10_share", (),
       "Share of the window sample's retrievals taken by the 10 most retrieved context ids.",
       "Top-10 context share", "Share of retrievals taken by the 10 most retrieved ids.",
       "retrieval", +1, "corpus", unit="percentunit"),
    _s("question_distinct_ratio", "collapse_question_distinct_ratio", (),
       "Distinct questions / answers with a known question in the window.",
       "Distinct questions", "How varied the users' questions are: tells a change in what "
       "users ask from a change in the model.", "questions", -1, "proportion",
       unit="percentunit", verdict=False,
       note="describes the users, not the model: read next to the duplicate ratios"),
    _s("thumbs_down_ratio", "collapse_thumbs_down_ratio", (),
       "Thumbs down / ratings (thumbs up or down) in the window.", "Thumbs-down rate",
       "Users' thumbs down among the window's ratings (record_feedback); what users "
       "think of the answers, next to what the text signals see.", "feedback and evaluation",
       +1, "proportion", **_SAMPLE_NEAR_ZERO),
    _s("evaluation_fail_ratio", "collapse_evaluation_fail_ratio", (),
       "Failed / passed + failed evaluation results in the window (all evaluators).",
       "Evaluation fail rate", "Evaluation results that failed, among those that passed or "
       "failed (record_evaluation, gen_ai.evaluation.result events); unknown results are "
       "left out. Pooled over evaluators: keep the set of evaluators the same across "
       "releases.", "feedback and evaluation", +1, "proportion", **_SAMPLE_NEAR_ZERO),
)

BY_KEY: Mapping[str, Signal] = MappingProxyType({s.key: s for s in SIGNALS})
VERDICT_SIGNALS: tuple[Signal, ...] = tuple(s for s in SIGNALS if s.verdict)


def families() -> dict[str, tuple[Signal, ...]]:
    """Family -> its signals, in FAMILIES order."""
    return {f: tuple(s for s in SIGNALS if s.family == f) for f in FAMILIES}


def metric_families() -> dict[str, tuple[Signal, ...]]:
    """Prometheus family name -> the signals it carries, in declaration order."""
    out: dict[str, list[Signal]] = {}
    for s in SIGNALS:
        out.setdefault(s.metric, []).append(s)
    return {m: tuple(v) for m, v in out.items()}
