"""`make bench`: run every benchmark on one core and print one table
(`python -m benchmarks bench_signals ...` runs only the suites named)."""

from __future__ import annotations

import importlib
import os
import sys

SUITES = ("bench_signals", "bench_memory", "ner_eval", "bench_capture", "bench_export",
          "bench_serve", "bench_host", "calibration", "validation", "embedders")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # "one core"
    rows: list[dict] = []
    unknown = set(sys.argv[1:]) - set(SUITES)
    if unknown:
        print(f"unknown suites: {sorted(unknown)}; known: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    for suite in sys.argv[1:] or SUITES:
        try:
            module = importlib.import_module(f"benchmarks.{suite}")
        except ImportError as exc:
            print(f"skipping {suite}: {exc}", file=sys.stderr)
            continue
        rows.extend(module.run())
    table = [("benchmark", "measured", "unit", "target", "note")]
    table += [(r["name"], _fmt(r["value"]), r.get("unit", ""), r.get("target", ""),
               r.get("note", "")) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(5)]
    for i, row in enumerate(table):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
