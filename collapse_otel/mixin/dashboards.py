"""The overview (every signal per release over time) and plugin-health dashboards.

Panels query the contract's raw series with ``$__rate_interval``, so they work before any rule
is loaded and whatever windows the rules use; only the overview's "collapse suspected" row
reads the verdict's recording rules. Every query filters on ``$job`` and ``$instance``.
"""

from __future__ import annotations

from ..signals.registry import SIGNALS
from .config import MixinConfig
from .grafana import Row, dashboard, query_variable, table, timeseries
from .promql import DASHBOARD_MATCHERS, dash_sel, sel
from .verdict import REFERENCES, families_degraded, rule_text
from .verdict import suspected as verdict

RI = "$__rate_interval"
BY = "release, cohort"
LEGEND = "{{release}} / {{cohort}}"

# Overview rows of window gauges: registry families (duplicates have their own row).
ROWS: dict[str, str] = {"repetition": "Repetition", "lexical diversity": "Lexical diversity",
                        "entity diversity": "Entities", "semantic dispersion": "Embeddings",
                        "length and variance": "Length", "retrieval": "Retrieval",
                        "questions": "Questions"}
GAUGES: dict[str, list[tuple[str, str, str, str, str]]] = {
    title: [(s.title, s.metric, s.selector, s.unit, s.description)
            for s in SIGNALS if s.family == family]
    for family, title in ROWS.items()}

# Answer clusters as species (informational): in the duplicates row.
CLUSTER_GAUGES = [(s.title, s.metric, s.selector, s.unit, s.description)
                  for s in SIGNALS if s.family == "duplication" and s.species]


SE_LOOPS = 'signal="agent_loop_ratio"'
STREAM = ('service=~"$service"', 'release=~"$release"', 'cohort=~"$cohort"')


def stream_sel(cfg: MixinConfig, *extra: str) -> str:
    return dash_sel(cfg, *STREAM, *extra)


def scope_variables(cfg: MixinConfig, metric: str = "collapse_answers_total") -> list[dict]:
    """``$job`` and ``$instance`` (multi-value, All), read from ``metric``."""
    return [
        query_variable("job", "Job", f"label_values({metric}{sel(cfg)}, job)",
                       multi=True, include_all=True),
        query_variable("instance", "Instance",
                       f"label_values({metric}{sel(cfg, DASHBOARD_MATCHERS[0])}, instance)",
                       multi=True, include_all=True),
    ]


def rate_sum(metric: str, matchers: str, by: str = BY, window: str = RI) -> str:
    return f"sum by ({by}) (rate({metric}{matchers}[{window}]))"


def quantiles(metric: str, matchers: str, qs: tuple[float, ...] = (0.5, 0.9)) -> list:
    return [(f"histogram_quantile({q}, sum by ({BY}, le) "
             f"(rate({metric}_bucket{matchers}[{RI}])))", f"p{int(q * 100)} {LEGEND}")
            for q in qs]


def stream_variables(cfg: MixinConfig) -> list[dict]:
    job = dash_sel(cfg)
    svc = dash_sel(cfg, 'service=~"$service"')
    rel = dash_sel(cfg, 'service=~"$service"', 'release=~"$release"')
    return [
        *scope_variables(cfg),
        query_variable("service", "Service", f"label_values(collapse_answers_total{job}, service)",
                       multi=True, include_all=True),
        query_variable("release", "Release",
                       f"label_values(collapse_answers_total{svc}, release)",
                       multi=True, include_all=True),
        query_variable("cohort", "Cohort", f"label_values(collapse_answers_total{rel}, cohort)",
                       multi=True, include_all=True),
    ]


def suspected(cfg: MixinConfig) -> Row:
    """Streams where collapse is suspected against their previous or baseline release (the
    verdict series the alert reads, kept for streams the selected jobs and instances serve)."""
    k = cfg.verdict_min_families
    served = f"and on (service, release, cohort)\ncollapse_window_answers{dash_sel(cfg)}"
    rules = {ref: f"{families_degraded(ref)}{{{', '.join(STREAM)}}}" for ref in REFERENCES}
    name = {"previous_release": "previous", "baseline_release": "baseline"}
    tables = [table(
        f"Releases with collapse suspected (vs {name[ref]} release)", [(
            f"max by (service, release, cohort, {ref}) (\n  {rule}\n"
            f"  and on (service, release, cohort, {ref}) {verdict(ref)} == 1\n  {served}\n)",
            "")],
        f"Streams where collapse is suspected against their {name[ref]} release "
        f"({rule_text(cfg)}; CollapseReleaseRegression); the value is the number of degraded "
        "families. See the release comparison dashboard for which signals moved.", width=8)
        for ref, rule in rules.items()]
    over_time = timeseries("Degraded families", [(
        f"max by (service, release, cohort, {ref}) (\n  {rule}\n  {served}\n)",
        f"{{{{release}}}} / {{{{cohort}}}} vs {{{{{ref}}}}}") for ref, rule in rules.items()],
        "short", f"Signal families degraded against the previous and the baseline release; "
        f"collapse is suspected from {k} (or from one beyond a critical margin, where "
        "declared).")
    return Row("Releases with collapse suspected", [*tables, over_time])


def overview(cfg: MixinConfig) -> dict:
    s = stream_sel(cfg)
    answers = rate_sum("collapse_answers_total", s)
    traffic = Row("Traffic", [
        timeseries("Answers per second", [(answers, LEGEND)], "reqps",
                   "Answers captured per second (collapse_answers_total, summed over "
                   "processes), whether or not they carried text."),
        timeseries("Answers in window", [(f"sum by ({BY}) (collapse_window_answers{s})", LEGEND)],
                   description="Answers behind the window gauges below (summed over processes)."),
        timeseries("Windows cut by the memory budget", [
            (f"max by ({BY}) (collapse_window_memory_limited{s})", LEGEND)], "short",
            "1 while the aggregator's memory budget holds a window below its configured size: "
            "its gauges then rest on fewer answers."),
        timeseries("Answers without text", [
            (f"{rate_sum('collapse_answers_without_text_total', s)} / {answers}", LEGEND)],
            "percentunit", "Share of answers the text signals cannot see (content capture off)."),
        timeseries("Tokens per second", [
            (rate_sum("collapse_llm_tokens_total", s, f"{BY}, type"), f"{LEGEND} {{{{type}}}}"),
            (rate_sum("collapse_llm_tokens_estimated_total", s, f"{BY}, type"),
             f"{LEGEND} {{{{type}}}} estimated")], "short",
            "Prompt and completion tokens per second as the model reported them, and those "
            "capture estimated from the text (4 characters a token) when it reported none."),
        timeseries("Completion tokens per answer", quantiles("collapse_completion_tokens", s),
                   "short", "Median (p50) and 90th percentile (p90) of the answers' completion "
                   "tokens, from the histogram: collapse often shortens answers."),
        timeseries("Prompt tokens per answer", quantiles("collapse_prompt_tokens", s),
                   "short", "Median (p50) and 90th percentile (p90) of the prompts' tokens, "
                   "from the histogram: a change here is a change in what is asked."),
    ])
    dup = Row("Duplicates", [
        timeseries("Duplicate answer ratio", [(
            f"{rate_sum('collapse_duplicate_answers_total', s, f'{BY}, kind')}\n"
            f"/ ignoring (kind) group_left\n{answers}", f"{LEGEND} {{{{kind}}}}")],
            "percentunit", "Answers that repeat an earlier answer (exact or near), from the "
            "counters. The spike alert compares this with the release's one-day baseline."),
        timeseries("Duplicate share of the window", [(
            f"avg by ({BY}, kind) (collapse_duplicate_answer_ratio{s})",
            f"{LEGEND} {{{{kind}}}}")], "percentunit",
            "Share of the answers now in the window that duplicate an earlier one."),
        timeseries("Cross-question duplicate ratio", [(
            f"{rate_sum('collapse_cross_question_duplicates_total', s, f'{BY}, kind')}\n"
            f"/ ignoring (kind) group_left\n"
            f"{rate_sum('collapse_answers_with_question_total', s)}", f"{LEGEND} {{{{kind}}}}")],
            "percentunit", "Answers repeating an answer given to a different question, of the "
            "answers whose question capture knew (none without it). An FAQ bot repeating the "
            "right answer to the same question stays low; the spike alert reads this where "
            "questions are known."),
        timeseries("Cross-question duplicate share of the window", [(
            f"avg by ({BY}) (collapse_cross_question_duplicate_ratio{s})", LEGEND)],
            "percentunit", "Share of the window's answers with a known question that repeat an "
            "answer to a different question (a verdict signal)."),
        *(timeseries(name, [(f"avg by ({BY}) ({metric}{stream_sel(cfg, extra)})", LEGEND)],
                     unit, desc) for name, metric, extra, unit, desc in CLUSTER_GAUGES),
    ])
    rows = [suspected(cfg), traffic, dup]
    for title, gauges in GAUGES.items():
        rows.append(Row(title, [
            timeseries(name, [(f"avg by ({BY}) ({metric}{stream_sel(cfg, extra)})", LEGEND)],
                       unit, desc)
            for name, metric, extra, unit, desc in gauges]))
    rows.append(feedback_row(cfg))
    rows.append(loops_row(cfg))
    return dashboard(cfg, "overview", "collapse-otel / Overview",
                     "Every collapse signal per release and cohort over time.",
                     stream_variables(cfg), rows)


def _share(metric: str, s: str, part: str, whole: str, by: str = BY) -> str:
    """sum(part) / sum(whole) of a labelled family; no value where the whole is 0."""
    return (f"sum by ({by}) ({metric}{s[:-1]}, {part}}})\n"
            f"/ (sum by ({by}) ({metric}{s[:-1]}, {whole}}}) > 0)")


def feedback_row(cfg: MixinConfig) -> Row:
    """Thumbs-down and evaluation fail rates per release and cohort (the window's counts,
    summed over processes, as the verdict judges them), per evaluator from the counters, and
    the scores; streams without feedback or evaluations show nothing."""
    s = stream_sel(cfg)
    updown, passfail = 'rating=~"up|down"', 'result=~"pass|fail"'
    rate_part = (f"sum by ({BY}, evaluator) (rate(collapse_evaluations_total{s[:-1]}, "
                 f'result="fail"}}[{RI}]))')
    rate_whole = (f"sum by ({BY}, evaluator) (rate(collapse_evaluations_total{s[:-1]}, "
                  f"{passfail}}}[{RI}]))")
    return Row("Feedback and evaluation", [
        timeseries("Thumbs-down rate (window)", [(
            f"avg by ({BY}) (collapse_thumbs_down_ratio{s})", LEGEND)],
            "percentunit", "Thumbs down / rated answers in the window (record_feedback): a "
            "verdict signal; CollapseFeedbackRegression compares it with the previous release."),
        timeseries("Evaluation fail rate (window)", [(
            f"avg by ({BY}) (collapse_evaluation_fail_ratio{s})", LEGEND)],
            "percentunit", "Failed / passed + failed evaluation results in the window, all "
            "evaluators (record_evaluation, gen_ai.evaluation.result events); unknown results "
            "are left out."),
        timeseries("Thumbs-down rate (all processes)", [(
            _share("collapse_window_feedback", s, 'rating="down"', updown), LEGEND)],
            "percentunit", "The same from the window counts summed over the processes serving "
            "a release (each process's window is its own share of the traffic)."),
        timeseries("Feedback per second", [(
            rate_sum("collapse_feedback_total", s, f"{BY}, rating"), f"{LEGEND} {{{{rating}}}}")],
            "short", "Thumbs up and down recorded, from the counters."),
        timeseries("Rated answers in the window", [
            (f"sum by ({BY}, rating) (collapse_window_feedback{s})",
             f"{LEGEND} {{{{rating}}}}"),
            (f"sum by ({BY}, result) (collapse_window_evaluations{s})",
             f"{LEGEND} {{{{result}}}}")], "short",
            "How many ratings and results the two rates rest on (the alerts need 50)."),
        timeseries("Evaluation fail rate by evaluator", [(
            f"{rate_part}\n/ ({rate_whole} > 0)", f"{LEGEND} {{{{evaluator}}}}")],
            "percentunit", "Failed / passed + failed results per evaluator, from the counters: "
            "one evaluator or all of them?"),
        timeseries("Evaluation score by evaluator (median)", [(
            f"histogram_quantile(0.5, sum by ({BY}, evaluator, le) "
            f"(rate(collapse_evaluation_score_bucket{s}[{RI}])))",
            f"{LEGEND} {{{{evaluator}}}}")], "short",
            "Median evaluation score per evaluator (buckets fit 0-1, 1-5 and 1-10 scales)."),
        timeseries("Feedback score (median)", quantiles("collapse_feedback_score", s, (0.5,)),
                   "short", "Median numeric feedback score (record_feedback score=)."),
    ])


def loops_row(cfg: MixinConfig) -> Row:
    """Agent loops per release and cohort: the window's rate with its standard error (as the
    verdict and CollapseAgentLoopSpike judge it), the kinds of loop and their length; streams
    without agent turns show nothing."""
    s = stream_sel(cfg)
    two = stream_sel(cfg, 'le="2.0"')   # turns whose most repeated step ran at most twice
    return Row("Agent loops", [
        timeseries("Agent loop rate (window)", [
            (f"avg by ({BY}) (collapse_agent_loop_ratio{s})", LEGEND),
            (f"avg by ({BY}) (collapse_window_signal_stderr{stream_sel(cfg, SE_LOOPS)})",
             f"{LEGEND} standard error")],
            "percentunit", "Agent turns that loop / agent turns in the window: 3 near-identical "
            "answers in a row, 3 calls of one tool with the same arguments, or a step limit "
            "(docs/agent-loops.md). A verdict signal; CollapseAgentLoopSpike compares it with "
            "the previous release."),
        timeseries("Agent loop rate (all processes)", [(
            _share("collapse_window_agent_turns", s, 'looping="true"', 'looping=~"true|false"'),
            LEGEND)], "percentunit", "The same from the window counts summed over the "
            "processes serving a release."),
        timeseries("Agent turns per second", [(
            rate_sum("collapse_agent_turns_total", s, f"{BY}, looping"),
            f"{LEGEND} looping={{{{looping}}}}")], "short",
            "Agent turns ended per second, looping or not, from the counters."),
        timeseries("Looping turns per second by kind", [(
            rate_sum("collapse_agent_loops_total", s, f"{BY}, kind"), f"{LEGEND} {{{{kind}}}}")],
            "short", "repeated_answer, repeated_tool_call, step_limit (a turn can loop in "
            "several ways), from the counters: which way the agents get stuck."),
        timeseries("Agent turns in the window", [(
            f"sum by ({BY}, looping) (collapse_window_agent_turns{s})",
            f"{LEGEND} looping={{{{looping}}}}")], "short",
            f"How many agent turns the rate rests on (the alert needs {cfg.loop_min_turns})."),
        timeseries("Loop length (mean)", [(
            f"{rate_sum('collapse_agent_loop_length_sum', s)}\n"
            f"/ ({rate_sum('collapse_agent_loop_length_count', s)} > 0)", LEGEND)], "short",
            "How many times an agent turn's most repeated step ran, on average (1: none "
            "repeated; whole numbers, so read the mean rather than interpolated quantiles)."),
        timeseries("Turns repeating a step 3+ times", [(
            f"1 - {rate_sum('collapse_agent_loop_length_bucket', two)}"
            f"\n/ ({rate_sum('collapse_agent_loop_length_count', s)} > 0)", LEGEND)],
            "percentunit", "Share of agent turns whose most repeated step ran at least 3 times "
            "(from the loop length histogram): the repeats behind the loop rate."),
    ])


def health(cfg: MixinConfig) -> dict:
    j = dash_sel(cfg)
    s = dash_sel(cfg, 'service=~"$service"')
    by = "service, release"
    answers = rate_sum("collapse_answers_total", s, by)
    rows = [
        Row("Plugin", [
            timeseries("Records dropped by reason", [(
                rate_sum("collapse_records_dropped_total", j, "instance, reason"),
                "{{instance}} {{reason}}")], "short",
                "Records the plugin dropped instead of slowing the host (CollapseTelemetryDropping)."),
            timeseries("Dropped share of records", [(
                f"{rate_sum('collapse_records_dropped_total', j, 'instance')}\n/ (\n"
                f"  {rate_sum('collapse_records_dropped_total', j, 'instance')}\n"
                f"  + {rate_sum('collapse_records_processed_total', j, 'instance')}\n)",
                "{{instance}}")], "percentunit", "Dropped / (dropped + analysed) records."),
            timeseries("Records analysed per second", [(
                rate_sum("collapse_records_processed_total", j, "instance"), "{{instance}}")],
                "short", "Records the analysis worker has folded into the windows, per second."),
            timeseries("Queue depth", [(f"collapse_queue_depth{j}", "{{instance}}")], "short",
                       "Records waiting for the worker thread."),
            timeseries("Worker busy (processing seconds per second)", [(
                f"rate(collapse_processing_seconds_total{j}[{RI}])", "{{instance}}")],
                "percentunit", "Share of one core the analysis worker uses."),
            timeseries("Streams held", [(f"collapse_streams{j}", "{{instance}}")], "short",
                       "(service, release, cohort) streams in the aggregator; capped."),
            timeseries("Records folded into __other__", [(
                f"rate(collapse_streams_folded_total{j}[{RI}])", "{{instance}}")], "short",
                "Records of streams beyond the cap, counted under release=\"__other__\"."),
            timeseries("Aggregator memory", [
                (f"collapse_memory_retained_bytes{j}", "{{instance}} held"),
                (f"collapse_memory_budget_bytes{j}", "{{instance}} budget")], "bytes",
                "What the windows hold against the memory budget; past 90% the largest shrink."),
            timeseries("Window panes dropped for the budget", [(
                f"rate(collapse_memory_budget_trims_total{j}[{RI}])", "{{instance}}")], "short",
                "Older panes dropped at once because the windows passed the memory budget."),
            timeseries("State rebuilt at restore", [(
                f"collapse_state_rebuilt_total{j}\nor on (instance)\n0 * up{j}",
                "{{instance}} {{part}}")], "short",
                "Parts of a restored state rebuilt because the configuration changed "
                "(sample size, embedder, LSH parameters, window); 0: nothing rebuilt (the "
                "counter exists only after a rebuild)."),
            timeseries("Scrape target up", [(f"up{j}", "{{instance}}")], "short",
                       "1 when Prometheus's last scrape of the process succeeded, 0 when it "
                       "failed: every other panel of that instance is then stale."),
        ]),
        Row("Feedback and evaluation results", [
            timeseries("Results without a known answer", [(
                rate_sum("collapse_outcomes_unmatched_total", j, "instance, kind"),
                "{{instance}} {{kind}}")], "short",
                "record_feedback / record_evaluation calls whose run, trace or response id "
                "named no answer the process knew (counted in their explicit or default "
                "stream): feedback given long after the answer, in another process, or an id "
                "capture never saw."),
            timeseries("Answer references held", [(
                f"collapse_outcome_references{j}", "{{instance}}")], "short",
                "Run, trace and response ids kept to place feedback in its answer's stream "
                "(bounded by COLLAPSE_OTEL_FEEDBACK_REFERENCES)."),
        ]),
        Row("Coverage", [
            timeseries("Answers without text", [(
                f"{rate_sum('collapse_answers_without_text_total', s, by)} / {answers}",
                "{{service}} {{release}}")], "percentunit",
                "Share of answers captured without text (content capture off): counted, but "
                "invisible to the text signals."),
            timeseries("Intermediate LLM calls per answer", [(
                f"{rate_sum('collapse_intermediate_llm_calls_total', s, by)} / {answers}",
                "{{service}} {{release}}")], "short",
                "Rewriter, router, judge and tool-call steps per answer; not in the signals."),
            timeseries("Answers truncated", [(
                f"{rate_sum('collapse_answers_truncated_total', s, by)} / {answers}",
                "{{service}} {{release}}")], "percentunit",
                "Share of answers longer than the analysis reads (max_answer_chars): their "
                "signals rest on the first part of the text."),
            timeseries("Estimated tokens", [(
                f"{rate_sum('collapse_llm_tokens_estimated_total', s, f'{by}, type')}\n/ (\n"
                f"  {rate_sum('collapse_llm_tokens_estimated_total', s, f'{by}, type')}\n"
                f"  + {rate_sum('collapse_llm_tokens_total', s, f'{by}, type')}\n)",
                "{{service}} {{release}} {{type}}")], "percentunit",
                "Tokens approximated because the model reported no usage."),
        ]),
    ]
    variables = [*scope_variables(cfg, "up"),
                 query_variable("service", "Service",
                                f"label_values(collapse_answers_total{j}, service)",
                                multi=True, include_all=True)]
    return dashboard(cfg, "health", "collapse-otel / Plugin health",
                     "Is collapse-otel itself keeping up: drops, queue, worker time, streams.",
                     variables, rows)
