"""``collapse-otel compare BASELINE CANDIDATE``: the release gate.

Exit status 0: no degradation that fails the gate; 1: the gate failed (``--fail-on
collapse``, the default: collapse suspected in all answers or in a cohort; ``--fail-on
degraded``: any family degraded); 2: bad input or options, with one line
``collapse-otel compare: FILE:LINE: message`` on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ..signals.registry import BY_KEY
from .engine import CompareOptions
from .gate import FAIL_ON, run_gate
from .inputs import InputError, Selection, read_side
from .progress import ProgressBar
from .scale_out import add_scale_out, dask_client, dask_failure, scale_out_problem

PROG = "collapse-otel compare"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:   # one line and exit 2, like every bad input
        self.exit(2, f"{PROG}: {message}\n")


def _floor(text: str, what: str = "a floor") -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or key not in BY_KEY:
        raise argparse.ArgumentTypeError(
            f"expected SIGNAL=VALUE with a signal of: {', '.join(BY_KEY)}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"{what} must be >= 0")
    return key, number


def _critical(text: str) -> tuple[str, float | None]:
    key, _, value = text.partition("=")
    if value == "none" and key in BY_KEY:
        return key, None
    return _floor(text, "a critical margin")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False, description=(
        "Judge a candidate release against a baseline: every collapse signal with its change, "
        "95%% interval and p-value, a verdict per family, 'collapse suspected' when K families "
        "degrade or one signal degrades beyond its critical margin. Each side is a JSONL or CSV file of answers ('answer' required; optional "
        "prompt, prompt_tokens, completion_tokens, context_ids, cohort, release; .gz too) or "
        "a collapse-otel serve state file."),
        epilog="exit status: 0 pass, 1 the gate failed (see --fail-on), 2 bad input")
    p.add_argument("baseline", metavar="BASELINE", help="baseline answers or state file")
    p.add_argument("candidate", metavar="CANDIDATE", help="candidate answers or state file")
    g = p.add_argument_group("judgement")
    g.add_argument("--fail-on", choices=FAIL_ON, default="collapse",
                   help="exit 1 on 'collapse' (collapse suspected: the verdict, default) or on "
                        "any 'degraded' family; in all answers or in any cohort")
    g.add_argument("--alpha", type=float, default=0.05,
                   help="error rate across the signals in the verdict (default 0.05)")
    g.add_argument("--min-families", type=int, default=3, metavar="K",
                   help="degraded families that make 'collapse suspected' (default 3; one "
                        "signal beyond its critical margin makes it too)")
    g.add_argument("--correction", choices=("holm", "bh"), default="holm",
                   help="multiple-testing correction: holm (default) or bh")
    g.add_argument("--permutations", type=int, default=200,
                   help="permutations for corpus statistics (default 200)")
    g.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    g.add_argument("--sample-size", type=int, default=1000,
                   help="answers per side for corpus statistics (default 1000)")
    g.add_argument("--floor", type=_floor, action="append", default=[], metavar="KEY=VALUE",
                   help="smallest change that matters for one signal (repeatable), e.g. "
                        "distinct_2=0.1 (10%%) or exact_duplicate_ratio=0.05 (5 points)")
    g.add_argument("--critical", type=_critical, action="append", default=[],
                   metavar="KEY=VALUE", help="critical margin of one signal (repeatable): a "
                   "degradation beyond it alone makes 'collapse suspected', e.g. "
                   "distinct_2=0.08; KEY=none: this signal alone never does")
    g.add_argument("--embedder", default=os.environ.get("COLLAPSE_OTEL_EMBEDDER", "").strip()
                   .lower() or "hashed", metavar="NAME",
                   help="answer embeddings: hashed (default; semantic dispersion is then not "
                        "judged), wordllama or e5 (the embeddings extra; semantic dispersion "
                        "is judged under wordllama). Default: $COLLAPSE_OTEL_EMBEDDER")
    s = p.add_argument_group("sides")
    s.add_argument("--cohort-column", default="cohort",
                   help="column that names the cohort (default 'cohort')")
    s.add_argument("--no-cohorts", action="store_true",
                   help="ignore cohorts: compare all answers only")
    s.add_argument("--baseline-release", help="release to take from the baseline file")
    s.add_argument("--candidate-release", help="release to take from the candidate file")
    s.add_argument("--service", help="service to take from a state file")
    s.add_argument("--cohort", help="compare one cohort only (of a state file's streams or "
                                    "a file's cohort column)")
    add_scale_out(p, "analyse answer files", "the report equals the single process's", "file")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", help="write the JSON report (schema "
                                                  "collapse-otel/compare v1)")
    o.add_argument("--markdown", metavar="FILE",
                   help="write the Markdown report (e.g. $GITHUB_STEP_SUMMARY)")
    o.add_argument("--html", metavar="FILE", help="write the HTML report with plots")
    o.add_argument("--show-text", action="store_true",
                   help="put answer text in the reports: the candidate's most repeated "
                        "phrases that the baseline did not repeat")
    o.add_argument("--quiet", action="store_true", help="no table on stdout, no progress")
    o.add_argument("--progress", action="store_true",
                   help="show the progress bar even when stderr is not a terminal or the "
                        "input is small")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:   # --help (0) or a bad option (2, message already written)
        return int(exc.code or 0)
    try:
        options = CompareOptions(
            alpha=args.alpha, min_families=args.min_families, correction=args.correction,
            permutations=args.permutations, seed=args.seed, sample_size=args.sample_size,
            floors=dict(args.floor), criticals=dict(args.critical), embedder=args.embedder)
        if args.sample_size < 4:
            raise ValueError("sample size must be >= 4")
        problem = scale_out_problem(args)
        if problem:
            raise ValueError(problem)
        if args.dask and args.show_text:
            raise ValueError("--show-text reads every answer's text: not with --dask")
    except ValueError as exc:
        return _fail(str(exc))
    common = dict(service=args.service, cohort=args.cohort, cohort_column=args.cohort_column,
                  cohorts=not args.no_cohorts)
    selections = (Selection(release=args.baseline_release, flag="--baseline-release",
                            **common),
                  Selection(release=args.candidate_release, flag="--candidate-release",
                            **common))
    try:
        if args.dask:
            baseline, candidate = _distributed(args, options, selections)
        else:
            baseline = read_side(args.baseline, selections[0])
            candidate = read_side(args.candidate, selections[1])
    except InputError as exc:
        return _fail(str(exc))
    except (ImportError, OSError) as exc:
        message = dask_failure(args, exc)
        if message is None:
            raise
        return _fail(message)
    for warning in (*baseline.warnings, *candidate.warnings):
        sys.stderr.write(f"{PROG}: warning: {warning}\n")
    bar = ProgressBar(force=args.progress, enabled=not args.quiet or args.progress)
    result = run_gate(baseline, candidate, options, fail_on=args.fail_on,
                      show_text=args.show_text, progress=bar)
    try:
        _write_reports(args, result)
    except OSError as exc:
        return _fail(f"{exc.filename}: cannot write: {exc.strerror or exc}")
    if not args.quiet:
        from .report_text import render

        sys.stdout.write(render(result, colour=_colour(sys.stdout)))
        sys.stdout.flush()
    return result.exit_status


def _distributed(args: argparse.Namespace, options: CompareOptions,
                 selections: tuple[Selection, Selection]):
    """Both sides read on a Dask cluster: the scheduler at ``--dask``, or a local one."""
    from .distributed import read_sides_distributed

    with dask_client(args) as blocksize:
        return read_sides_distributed([args.baseline, args.candidate], selections, options,
                                      blocksize=blocksize)


def _write_reports(args: argparse.Namespace, result) -> None:
    from . import report_html, report_json, report_markdown

    for path, module in ((args.json, report_json), (args.markdown, report_markdown),
                         (args.html, report_html)):
        if path:
            text = module.render(result)
            mode = "a" if module is report_markdown and is_step_summary(path) else "w"
            with open(path, mode, encoding="utf-8") as f:
                f.write(text)


def is_step_summary(path: str) -> bool:
    """Append to the job summary (other steps write to it too); overwrite any other file."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return False
    return Path(path).resolve() == Path(summary).resolve()


def _colour(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return 2
