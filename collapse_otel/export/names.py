"""The metrics contract (DESIGN.md section 6): every exported name and help text, in one place.

Dashboards and alert rules depend on these names; changing one is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass

STREAM_LABELS = ("service", "release", "cohort")


@dataclass(frozen=True)
class MetricDef:
    name: str              # Prometheus family name (counters without the _total suffix)
    kind: str              # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()   # labels beyond service, release, cohort
    otel_name: str = ""    # name on the OTLP path

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


def _m(name: str, kind: str, help_: str, labels: tuple[str, ...] = ()) -> MetricDef:
    otel = name.replace("collapse_", "collapse.", 1)
    return MetricDef(name, kind, help_, labels, otel)


ANSWERS = _m("collapse_answers", "counter", "LLM answers observed.")
ANSWERS_WITHOUT_TEXT = _m("collapse_answers_without_text", "counter",
                          "Answers observed without text (content capture off); text signals skip them.")
ANSWERS_TRUNCATED = _m("collapse_answers_truncated", "counter",
                       "Answers truncated to the configured maximum length before analysis.")
DUPLICATE_ANSWERS = _m("collapse_duplicate_answers", "counter",
                       "Answers that duplicate an earlier answer in the stream window.", ("kind",))
LLM_TOKENS = _m("collapse_llm_tokens", "counter", "LLM tokens reported by the model.", ("type",))
LLM_TOKENS_ESTIMATED = _m("collapse_llm_tokens_estimated", "counter",
                          "LLM tokens approximated by collapse-otel because the model reported none.",
                          ("type",))
PROMPT_TOKENS = _m("collapse_prompt_tokens", "histogram", "Prompt tokens per answer.")
COMPLETION_TOKENS = _m("collapse_completion_tokens", "histogram", "Completion tokens per answer.")
WINDOW_ANSWERS = _m("collapse_window_answers", "gauge", "Answers in the stream window.")
REPEATED_NGRAM_RATIO = _m("collapse_repeated_ngram_ratio", "gauge",
                          "Repeated 4-gram rate: within_answer = mean seq-rep-4, "
                          "across_answers = 1 - distinct-4 of the sample.", ("scope",))
DISTINCT_NGRAM_RATIO = _m("collapse_distinct_ngram_ratio", "gauge",
                          "distinct-n of the window sample (unique / total n-grams).", ("n",))
NGRAM_DIVERSITY_SCORE = _m("collapse_ngram_diversity_score", "gauge",
                           "Sum of distinct-1..4 over the concatenated window sample.")
COMPRESSION_RATIO = _m("collapse_compression_ratio", "gauge",
                       "gzip compression ratio of the window sample; higher = more repetitive.")
SELF_REPETITION_SCORE = _m("collapse_self_repetition_score", "gauge",
                           "Self-repetition score of the window sample (4-grams shared across answers).")
ENTITIES_PER_ANSWER = _m("collapse_entities_per_answer", "gauge",
                         "Mean distinct entities per answer in the window.")
ENTITY_DIVERSITY_RATIO = _m("collapse_entity_diversity_ratio", "gauge",
                            "Distinct entities / entity mentions in the window.")
ENTITY_ENTROPY_BITS = _m("collapse_entity_entropy", "gauge",
                         "Entropy of the entity distribution in the window, in bits.")
EMBEDDING_VENDI_SCORE = _m("collapse_embedding_vendi_score", "gauge",
                           "Vendi score (q=1) of answer embeddings in the window.")
EMBEDDING_MEAN_COSINE = _m("collapse_embedding_mean_cosine_similarity", "gauge",
                           "Mean pairwise cosine similarity of answer embeddings in the window.")
EMBEDDING_EFFECTIVE_RANK = _m("collapse_embedding_effective_rank", "gauge",
                              "Effective rank of the answer embeddings in the window.")
CONTEXT_DISTINCT_RATIO = _m("collapse_context_distinct_ratio", "gauge",
                            "Distinct retrieved context ids / retrieved ids in the window.")
CONTEXT_TOP10_SHARE = _m("collapse_context_top10_share", "gauge",
                         "Share of retrievals taken by the 10 most retrieved context ids.")
COMPLETION_TOKENS_CV = _m("collapse_completion_tokens_cv", "gauge",
                          "Coefficient of variation of completion tokens in the window.")
# Added by the export issue: the window duplicate share, so alerts need no rate() over counters.
DUPLICATE_ANSWER_RATIO = _m("collapse_duplicate_answer_ratio", "gauge",
                            "Share of answers in the window that duplicate an earlier one.",
                            ("kind",))

WINDOW_MEMORY_LIMITED = _m("collapse_window_memory_limited", "gauge",
                           "1 while the memory budget holds this window below its configured size.")

# Plugin health (no stream labels except where listed).
RECORDS_DROPPED = _m("collapse_records_dropped", "counter",
                     "Records collapse-otel dropped, by reason.", ("reason",))
QUEUE_DEPTH = _m("collapse_queue_depth", "gauge", "Records waiting in the capture queue.")
PROCESSING_SECONDS = _m("collapse_processing_seconds", "counter",
                        "Seconds the worker spent analysing records.")
STREAMS = _m("collapse_streams", "gauge", "Streams held by the aggregator.")
STREAMS_FOLDED = _m("collapse_streams_folded", "counter",
                    "Records folded into release='__other__' by the stream cap.")
RECORDS_PROCESSED = _m("collapse_records_processed", "counter",
                       "Records the worker analysed (the denominator of the drop rate).")
MEMORY_RETAINED = _m("collapse_memory_retained_bytes", "gauge",
                     "Memory the aggregator's windows hold (estimated from their contents).")
MEMORY_BUDGET = _m("collapse_memory_budget_bytes", "gauge",
                   "The aggregator's memory budget; past 90% of it the largest windows shrink.")
MEMORY_TRIMS = _m("collapse_memory_budget_trims", "counter",
                  "Older window panes dropped at once to get back under the memory budget.")
RELEASE_INFO = _m("collapse_release_info", "gauge",
                  "1 per release, with the release before it (configured order, else first seen).",
                  ("previous_release",))

STREAM_METRICS: tuple[MetricDef, ...] = (
    ANSWERS, ANSWERS_WITHOUT_TEXT, ANSWERS_TRUNCATED, DUPLICATE_ANSWERS, LLM_TOKENS,
    LLM_TOKENS_ESTIMATED, PROMPT_TOKENS, COMPLETION_TOKENS, WINDOW_ANSWERS, REPEATED_NGRAM_RATIO,
    DISTINCT_NGRAM_RATIO, NGRAM_DIVERSITY_SCORE, COMPRESSION_RATIO, SELF_REPETITION_SCORE,
    ENTITIES_PER_ANSWER, ENTITY_DIVERSITY_RATIO, ENTITY_ENTROPY_BITS, EMBEDDING_VENDI_SCORE,
    EMBEDDING_MEAN_COSINE, EMBEDDING_EFFECTIVE_RANK, CONTEXT_DISTINCT_RATIO, CONTEXT_TOP10_SHARE,
    COMPLETION_TOKENS_CV, DUPLICATE_ANSWER_RATIO, WINDOW_MEMORY_LIMITED,
)
HEALTH_METRICS: tuple[MetricDef, ...] = (
    RECORDS_DROPPED, QUEUE_DEPTH, PROCESSING_SECONDS, STREAMS, STREAMS_FOLDED, RECORDS_PROCESSED,
    MEMORY_RETAINED, MEMORY_BUDGET, MEMORY_TRIMS,
)
ALL_METRICS: tuple[MetricDef, ...] = (*STREAM_METRICS, *HEALTH_METRICS, RELEASE_INFO)
