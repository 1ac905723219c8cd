"""The ``collapse-otel`` command: ``demo``, ``mixin`` (ops files), ``serve`` (OTLP receiver),
``compare`` (the release gate) and ``audit`` (training-data provenance).

Subcommands import their module only when chosen, so ``collapse-otel demo`` needs no ops
dependencies and ``collapse-otel mixin`` never loads LangChain.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .version import __version__


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collapse-otel", description="Model-collapse signals for LLM agent services.",
        allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"collapse-otel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="simulated RAG agent, three releases, live metrics, table",
                          allow_abbrev=False)
    demo.add_argument("--port", type=int, default=None,
                      help="metrics port (default: COLLAPSE_OTEL_METRICS_PORT, else 9464; "
                           "a busy port falls back to a free one)")
    demo.add_argument("--addr", default=None,
                      help="metrics address (default: COLLAPSE_OTEL_METRICS_HOST, else 127.0.0.1)")
    demo.add_argument("--duration", type=_positive, default=20.0,
                      help="seconds of traffic (default 20)")
    demo.add_argument("--answers", type=lambda v: int(_positive(v)), default=600,
                      help="answers per release (default 600)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated traffic")
    demo.add_argument("--serve", action="store_true",
                      help="keep serving /metrics after the table until interrupted")
    demo.add_argument("--continuous", action="store_true",
                      help="keep sending traffic at the same pace (--answers per release every "
                           "--duration seconds) until interrupted; then print the table")
    sub.add_parser("mixin", help="generate Prometheus rules, alerts and Grafana dashboards",
                   add_help=False)
    sub.add_parser("serve", help="OTLP receiver turning GenAI spans into collapse metrics",
                   add_help=False)
    sub.add_parser("compare", help="release gate: judge a candidate's answers against a "
                                   "baseline's (exit 0 pass, 1 fail, 2 bad input)",
                   add_help=False)
    sub.add_parser("audit", help="training-data provenance of a fine-tuning set's versions "
                                 "(exit 0 pass, 1 fail, 2 bad input)", add_help=False)
    return parser


def single_threaded_blas() -> None:
    """collapse-otel's own processes do small matrix work (128 x 128 eigenproblems) on one
    worker thread: a multi-threaded BLAS only spins against the request threads there
    (measured once: a window refresh took 0.07 s with one BLAS thread, 0.5 s with OpenBLAS's
    threads on a busy 2-core machine). Effective before numpy loads; explicit settings win.
    Never called inside a host application, whose BLAS is its own business."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv: Sequence[str] | None = None) -> int:
    single_threaded_blas()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] in ("mixin", "serve", "compare", "audit"):
        return _delegate(argv[0], argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            from .demo import run_demo
        except ImportError as exc:   # the demo is a LangChain agent
            sys.stderr.write("collapse-otel demo: needs LangChain, which is not installed "
                             f"({exc.name}): pip install 'collapse-otel[langchain]'\n")
            return 2
        return run_demo(port=args.port, duration=args.duration, answers=args.answers,
                        serve=args.serve, addr=args.addr, seed=args.seed,
                        continuous=args.continuous)
    parser.print_help()
    return 2


def _delegate(command: str, rest: list[str]) -> int:
    """Hand the remaining arguments to ``collapse_otel.<command>.main(argv)``."""
    try:
        module = importlib.import_module(f"collapse_otel.{command}")
        entry = module.main
    except (ImportError, AttributeError):
        sys.stderr.write(f"collapse-otel {command}: not available in this installation\n")
        return 2
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
