"""The demo's closing table: every exported signal (rows) per release (columns).

Built from the same rows the exporters publish (``export.series``), so what the table shows
is what Prometheus scrapes; rows are named by their series so they can be found in Grafana.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..engine.snapshot import AggregatorSnapshot
from ..export import names as N
from ..export.series import (
    Labels,
    health_rows,
    stream_histograms,
    stream_rows,
    unique_streams,
)
from ..signals.registry import SIGNALS

# Which way a series moves when a release collapses (from the signal registry).
_DIRECTION = {(s.metric, s.labels): "higher" if s.collapse > 0 else "lower" for s in SIGNALS}
_DIRECTION[(N.DUPLICATE_ANSWERS.name, (("kind", "exact"),))] = "higher"
_DIRECTION[(N.DUPLICATE_ANSWERS.name, (("kind", "near"),))] = "higher"
_DIRECTION[(N.FEEDBACK.name, (("rating", "down"),))] = "higher"
_DIRECTION[(N.AGENT_TURNS.name, (("looping", "true"),))] = "higher"
_COUNT_GAUGES = (N.WINDOW_ANSWERS, N.WINDOW_FEEDBACK, N.WINDOW_EVALUATIONS, N.WINDOW_AGENT_TURNS)


def _row_name(metric: N.MetricDef, labels: Sequence[tuple[str, str]]) -> str:
    extra = ",".join(f'{k}="{v}"' for k, v in labels[3:])
    return f"{metric.sample_name}{{{extra}}}" if extra else metric.sample_name


def _fmt(value: float | None, count: bool) -> str:
    if value is None:
        return "-"
    return f"{int(value):,}" if count else f"{value:.3f}"


def signal_table(snapshot: AggregatorSnapshot, releases: Sequence[str]) -> list[list[str]]:
    """Header + one row per series: [name, collapse-direction, value per release]."""
    cells: dict[str, dict[str, float | None]] = {}
    order: list[str] = []
    direction: dict[str, str] = {}
    counts: set[str] = set()
    for base, stream in unique_streams(snapshot):
        release = stream.key.release
        rows: list[tuple[N.MetricDef, Labels, float | None]] = [
            (m, labels, v) for m, labels, v in stream_rows(stream, base)]
        for metric, labels, hist in stream_histograms(stream, base):
            mean = hist.sum / hist.count if hist.count else None
            rows.append((metric, (*labels, ("stat", "mean")), mean))
        for metric, labels, value in rows:
            if metric is N.WINDOW_SIGNAL_STDERR:
                continue   # the table shows values; their errors are in the exposition
            name = _row_name(metric, labels)
            if name not in cells:
                cells[name] = {}
                order.append(name)
                if metric.kind == "counter" or metric in _COUNT_GAUGES:
                    counts.add(name)
                direction[name] = _DIRECTION.get((metric.name, tuple(labels[3:])), "")
            cells[name][release] = value
    table = [["signal", "collapse if", *releases]]
    for name in order:
        table.append([name, direction[name], *(_fmt(cells[name].get(r), name in counts) for r in releases)])
    return table


def render(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        parts = [row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                 *(c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def health_line(snapshot: AggregatorSnapshot, stats: object | None) -> str:
    values = {}
    dropped = 0.0
    for metric, _labels, value in health_rows(snapshot, stats):
        if metric is N.RECORDS_DROPPED:
            dropped += value
        else:
            values[metric] = value
    processed = values.get(N.RECORDS_PROCESSED)
    seconds = values.get(N.PROCESSING_SECONDS)
    parts = [f"streams {int(values.get(N.STREAMS, 0))}"]
    if processed is not None:
        parts.append(f"records processed {int(processed):,}")
        parts.append(f"dropped {int(dropped)}")
    if seconds is not None and processed:
        parts.append(f"analysis {seconds / processed * 1000:.2f} ms/answer")
    return "pipeline: " + ", ".join(parts)
