"""`make bench`: run every benchmark on one core and print one table
(`python -m benchmarks bench_signals ...` runs only the suites named). A suite that fails is
a row of the table and named on stderr (exit status 1); the other suites' rows still print."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

SUITES = ("bench_signals", "bench_compare", "bench_memory", "ner_eval", "bench_capture",
          "bench_export", "bench_serve", "bench_host", "calibration", "validation", "embedders",
          "bench_distributed")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _run_suite(suite: str, rows: list[dict]) -> str | None:
    """Append the suite's rows; a suite that fails is named (its error), never fatal."""
    try:
        module = importlib.import_module(f"benchmarks.{suite}")
    except ImportError as exc:
        print(f"skipping {suite}: {exc}", file=sys.stderr)
        return None
    try:
        rows.extend(module.run())
    except Exception as exc:   # one suite's failure must not lose the others' rows
        traceback.print_exc(file=sys.stderr)
        return f"{type(exc).__name__}: {exc}"
    return None


def main(argv: list[str] | None = None, one_core: bool = True) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # "one core"
    rows: list[dict] = []
    unknown = set(argv) - set(SUITES)
    if unknown:
        print(f"unknown suites: {sorted(unknown)}; known: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    failed: dict[str, str] = {}
    for suite in argv or SUITES:
        error = _run_suite(suite, rows)
        if error is not None:
            failed[suite] = error
            rows.append(dict(name=f"{suite}: FAILED", value="-", note=error[:200]))
    table = [("benchmark", "measured", "unit", "target", "note")]
    table += [(r["name"], _fmt(r["value"]), r.get("unit", ""), r.get("target", ""),
               r.get("note", "")) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(5)]
    for i, row in enumerate(table):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if failed:
        print(f"failed suites: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
