"""The metrics contract: every exported name and help text, in one place.

Dashboards and alert rules depend on these names; changing one is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..signals.registry import metric_families

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
ANSWERS_WITH_QUESTION = _m("collapse_answers_with_question", "counter",
                           "Answers whose question capture knew (hashed in-process, never "
                           "exported): the denominator of cross-question duplicates.")
CROSS_QUESTION_DUPLICATES = _m("collapse_cross_question_duplicates", "counter",
                               "Duplicate answers whose earlier copy answered a different "
                               "question.", ("kind",))
LLM_TOKENS = _m("collapse_llm_tokens", "counter", "LLM tokens reported by the model.", ("type",))
LLM_TOKENS_ESTIMATED = _m("collapse_llm_tokens_estimated", "counter",
                          "LLM tokens approximated by collapse-otel because the model reported none.",
                          ("type",))
PROMPT_TOKENS = _m("collapse_prompt_tokens", "histogram", "Prompt tokens per answer.")
COMPLETION_TOKENS = _m("collapse_completion_tokens", "histogram", "Completion tokens per answer.")
WINDOW_ANSWERS = _m("collapse_window_answers", "gauge", "Answers in the stream window.")
# Window gauges, one family per metric name of the signal registry (declared there once).
WINDOW_GAUGES: tuple[MetricDef, ...] = tuple(
    _m(metric, "gauge", signals[0].help, tuple(k for k, _ in signals[0].labels))
    for metric, signals in metric_families().items())
BY_NAME: dict[str, MetricDef] = {m.name: m for m in WINDOW_GAUGES}
WINDOW_SIGNAL_STDERR = _m("collapse_window_signal_stderr", "gauge",
                          "Standard error of a window gauge (signal = its registry key).",
                          ("signal",))

# Feedback and evaluation results (record_feedback / record_evaluation, gen_ai.evaluation.result
# events); a stream has these series once it got one.
FEEDBACK = _m("collapse_feedback", "counter",
              "Feedback on answers, by rating (thumbs up or down).", ("rating",))
FEEDBACK_SCORE = _m("collapse_feedback_score", "histogram",
                    "Numeric feedback scores on answers (e.g. stars).")
EVALUATIONS = _m("collapse_evaluations", "counter",
                 "Evaluation results of answers, by evaluator and result (pass, fail, unknown).",
                 ("evaluator", "result"))
EVALUATION_SCORE = _m("collapse_evaluation_score", "histogram",
                      "Evaluation scores of answers, by evaluator.", ("evaluator",))
WINDOW_FEEDBACK = _m("collapse_window_feedback", "gauge",
                     "Rated answers (thumbs up or down) in the stream window, by rating.",
                     ("rating",))
WINDOW_EVALUATIONS = _m("collapse_window_evaluations", "gauge",
                        "Evaluation results in the stream window, by result.", ("result",))

# Agent turns (collapse_otel.turns.loops): a stream has these series once it had an agent turn.
AGENT_TURNS = _m("collapse_agent_turns", "counter",
                 "Agent turns (a tool call, more than one LLM call, or a step limit), by "
                 "whether they looped.", ("looping",))
AGENT_LOOPS = _m("collapse_agent_loops", "counter",
                 "Looping agent turns by kind of loop (repeated_answer, repeated_tool_call, "
                 "step_limit); a turn can loop in several ways.", ("kind",))
AGENT_LOOP_LENGTH = _m("collapse_agent_loop_length", "histogram",
                       "Times the most repeated step of an agent turn ran (1: none repeated).")
WINDOW_AGENT_TURNS = _m("collapse_window_agent_turns", "gauge",
                        "Agent turns in the stream window, by whether they looped.",
                        ("looping",))

WINDOW_MEMORY_LIMITED = _m("collapse_window_memory_limited", "gauge",
                           "1 while the memory budget holds this window below its configured size.")

# Plugin health (no stream labels except where listed: intermediate calls are the capture
# pipeline's count per stream).
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
STATE_REBUILT = _m("collapse_state_rebuilt", "counter",
                   "Parts of restored state rebuilt because the configuration changed.",
                   ("part",))
MEMORY_TRIMS = _m("collapse_memory_budget_trims", "counter",
                  "Older window panes dropped at once to get back under the memory budget.")
INTERMEDIATE_LLM_CALLS = _m(
    "collapse_intermediate_llm_calls", "counter",
    "LLM calls that were not the answer of their user turn (query rewriters, routers, judges, "
    "tool-call steps); kept out of the answer signals.", STREAM_LABELS)
OUTCOMES_UNMATCHED = _m("collapse_outcomes_unmatched", "counter",
                        "Feedback and evaluation results whose answer reference was not known "
                        "(counted in their explicit or default stream), by kind.", ("kind",))
OUTCOME_REFERENCES = _m("collapse_outcome_references", "gauge",
                        "Answer references (run, trace, response ids) held to place feedback "
                        "and evaluation results in their answer's stream.")
RELEASE_INFO = _m("collapse_release_info", "gauge",
                  "1 per release, with the release before it and the pinned baseline "
                  "(configured, else first seen; empty when unknown).",
                  ("previous_release", "baseline_release"))

STREAM_METRICS: tuple[MetricDef, ...] = (
    ANSWERS, ANSWERS_WITHOUT_TEXT, ANSWERS_TRUNCATED, DUPLICATE_ANSWERS,
    ANSWERS_WITH_QUESTION, CROSS_QUESTION_DUPLICATES, LLM_TOKENS,
    LLM_TOKENS_ESTIMATED, PROMPT_TOKENS, COMPLETION_TOKENS, WINDOW_ANSWERS, *WINDOW_GAUGES,
    WINDOW_SIGNAL_STDERR, WINDOW_MEMORY_LIMITED, FEEDBACK, FEEDBACK_SCORE, EVALUATIONS,
    EVALUATION_SCORE, WINDOW_FEEDBACK, WINDOW_EVALUATIONS, AGENT_TURNS, AGENT_LOOPS,
    AGENT_LOOP_LENGTH, WINDOW_AGENT_TURNS,
)
HEALTH_METRICS: tuple[MetricDef, ...] = (
    RECORDS_DROPPED, QUEUE_DEPTH, PROCESSING_SECONDS, STREAMS, STREAMS_FOLDED, RECORDS_PROCESSED,
    MEMORY_RETAINED, MEMORY_BUDGET, MEMORY_TRIMS, STATE_REBUILT, INTERMEDIATE_LLM_CALLS,
    OUTCOMES_UNMATCHED, OUTCOME_REFERENCES,
)
ALL_METRICS: tuple[MetricDef, ...] = (*STREAM_METRICS, *HEALTH_METRICS, RELEASE_INFO)

# `collapse-otel audit --pushgateway`: figures of a training set's versions, pushed per run
# (job = --job, grouping key dataset). Not exported by the live exporters; `labels` here is the
# whole label set (no service/release/cohort).
_AUDIT_V = ("dataset", "version")
AUDIT_METRICS: tuple[MetricDef, ...] = (
    _m("collapse_audit_rows", "gauge", "Rows of a dataset version, by source.",
       (*_AUDIT_V, "source")),
    _m("collapse_audit_source_share", "gauge", "Share of a dataset version's rows, by source.",
       (*_AUDIT_V, "source")),
    _m("collapse_audit_synthetic_share", "gauge",
       "Share of a dataset version's rows whose source counts as synthetic.", _AUDIT_V),
    _m("collapse_audit_synthetic_share_change", "gauge",
       "Synthetic share minus the previous version's (absent for the first version).", _AUDIT_V),
    _m("collapse_audit_synthetic_share_rises", "gauge",
       "Versions in a row whose synthetic share rose, ending at this version.", _AUDIT_V),
    _m("collapse_audit_max_synthetic_share", "gauge",
       "The audit's maximum synthetic share (--max-synthetic-share).", ("dataset",)),
    _m("collapse_audit_version_position", "gauge",
       "Position of a version in the audit, oldest first (1-based).", _AUDIT_V),
    _m("collapse_audit_latest_version", "gauge",
       "1 for the latest version of the audit (the one its gate judges).", _AUDIT_V),
    _m("collapse_audit_holdout_rows", "gauge", "Rows of the holdout set.", ("dataset",)),
    _m("collapse_audit_holdout_contaminated_rows", "gauge",
       "Holdout rows with a near duplicate among a version's training rows.", _AUDIT_V),
    _m("collapse_audit_holdout_contaminated_share", "gauge",
       "Share of the holdout rows with a near duplicate among a version's training rows.",
       _AUDIT_V),
    _m("collapse_audit_own_answer_rows", "gauge",
       "Rows of a version that are the service's own earlier answers (by hash).", _AUDIT_V),
    _m("collapse_audit_own_answer_share", "gauge",
       "Share of a version's rows that are the service's own earlier answers.", _AUDIT_V),
    _m("collapse_audit_diversity", "gauge",
       "A registry diversity signal of one source's rows, at equal sample size across sources.",
       (*_AUDIT_V, "source", "signal")),
    _m("collapse_audit_diversity_sample_size", "gauge",
       "Rows per source behind collapse_audit_diversity.", _AUDIT_V),
    _m("collapse_audit_synthetic_narrower_families", "gauge",
       "Signal families in which the synthetic rows are narrower than the human rows "
       "(the comparison engine's degraded families).", _AUDIT_V),
)
