"""``collapse-otel audit VERSION_FILE [VERSION_FILE ...]`` (or ``--croissant METADATA.json``):
training-data provenance.

Exit status 0: pass; 1: the latest version's synthetic share is above ``--max-synthetic-share``,
a version contaminates the holdout or contradicts its Croissant ``rai:hasSyntheticData``; 2: bad input or options (one line ``collapse-otel
audit: FILE:LINE: message`` on stderr, no traceback), or the push failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..compare.cli import is_step_summary
from ..compare.inputs import InputError
from ..compare.scale_out import add_scale_out, dask_client, dask_failure, scale_out_problem
from .croissant import read_croissant, read_records
from .croissant_out import write_audited
from .diversity import DiversityOptions
from .engine import DEFAULT_SYNTHETIC, AuditOptions, run_audit
from .inputs import Columns, read_hashes, read_holdout, read_version
from .push import DEFAULT_JOB

PROG = "collapse-otel audit"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:   # one line and exit 2, like every bad input
        self.exit(2, f"{PROG}: {message}\n")


def _sources(text: str) -> frozenset[str]:
    names = frozenset(s.strip().lower() for s in text.split(",") if s.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one source")
    return names


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1]")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False, description=(
        "Audit the versions of a fine-tuning set, oldest first: rows and share per source, the "
        "synthetic share and its trend, diversity per source at equal sample size (synthetic "
        "vs human through the comparison engine), near-duplicate contamination of a holdout "
        "set, and the share of rows that are the service's own earlier answers. Each version "
        "is a JSONL or CSV file (.gz too) with a text and a source column; its label is its "
        "version column, else its file name."),
        epilog="exit status: 0 pass, 1 synthetic share too high or holdout contaminated, "
               "2 bad input")
    p.add_argument("versions", nargs="*", metavar="VERSION_FILE",
                   help="one file per dataset version, oldest first")
    p.add_argument("--croissant", action="append", default=[], metavar="METADATA.json",
                   help="a Croissant JSON-LD description instead of VERSION_FILEs (repeatable, "
                        "oldest first): its record set's text and source fields, its local "
                        "data files and its rai:hasSyntheticData, checked against the rows; "
                        "the results go to METADATA.collapse-audit.json beside it")
    p.add_argument("--record-set", metavar="NAME",
                   help="the Croissant record set to audit (default: the one with both fields)")
    c = p.add_argument_group("columns")
    c.add_argument("--text-column", default="text", help="column (with --croissant: field) of the row text (default text)")
    c.add_argument("--source-column", default="source",
                   help="column (with --croissant: field) of the row's source "
                        "(default source)")
    c.add_argument("--version-column", default="version",
                   help="column naming the version, if present (default version)")
    g = p.add_argument_group("judgement")
    g.add_argument("--synthetic-sources", type=_sources, default=frozenset(DEFAULT_SYNTHETIC),
                   metavar="A,B,...", help="sources that count as synthetic (default "
                                           f"{','.join(DEFAULT_SYNTHETIC)}); case-insensitive")
    g.add_argument("--max-synthetic-share", type=_share, default=0.5, metavar="SHARE",
                   help="exit 1 when the latest version's synthetic share is above it "
                        "(default 0.5)")
    g.add_argument("--rising-versions", type=int, default=3, metavar="N",
                   help="warn when the synthetic share rose N versions in a row (default 3)")
    g.add_argument("--holdout", metavar="FILE",
                   help="holdout set (JSONL or CSV, same text column): exit 1 when a version "
                        "holds a near duplicate of one of its rows")
    g.add_argument("--near-duplicate-threshold", type=_share, default=0.8, metavar="J",
                   help="Jaccard of word 5-gram shingles that makes a near duplicate "
                        "(default 0.8)")
    g.add_argument("--own-answers", action="append", default=[], metavar="FILE",
                   help="answer hashes the service wrote (COLLAPSE_OTEL_ANSWER_HASH_FILE; "
                        "repeatable: give FILE and FILE.1)")
    d = p.add_argument_group("diversity")
    d.add_argument("--sample-size", type=int, default=1000,
                   help="rows per source at most (default 1000)")
    d.add_argument("--min-source-rows", type=int, default=30,
                   help="sources with fewer rows are not measured (default 30)")
    d.add_argument("--permutations", type=int, default=200,
                   help="permutations of the synthetic-vs-human comparison (default 200)")
    d.add_argument("--seed", type=int, default=0, help="seed of the samples and permutations")
    d.add_argument("--no-diversity", action="store_true", help="skip the diversity measures")
    add_scale_out(p, "run", "the figures equal the single-process audit's", "version")
    o = p.add_argument_group("output")
    o.add_argument("--dataset", default="default", help="dataset name (label of the metrics)")
    o.add_argument("--json", metavar="FILE", help="write the JSON report "
                                                  "(schema collapse-otel/audit v1)")
    o.add_argument("--markdown", metavar="FILE",
                   help="write the Markdown report (e.g. $GITHUB_STEP_SUMMARY)")
    o.add_argument("--pushgateway", metavar="URL",
                   help="push the figures to this Prometheus Pushgateway")
    o.add_argument("--job", default=DEFAULT_JOB,
                   help=f"job label of the push (default {DEFAULT_JOB})")
    o.add_argument("--quiet", action="store_true", help="no table on stdout")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:   # --help (0) or a bad option (2, message already written)
        return int(exc.code or 0)
    columns = Columns(args.text_column, args.source_column, args.version_column)
    try:
        if not args.dataset.strip() or len(args.dataset) > 128:
            raise ValueError("--dataset must be a short, non-empty name")
        options = AuditOptions(
            columns=columns, synthetic_sources=args.synthetic_sources,
            max_synthetic_share=args.max_synthetic_share,
            threshold=args.near_duplicate_threshold, rising_versions=args.rising_versions,
            diversity=None if args.no_diversity else DiversityOptions(
                args.sample_size, args.min_source_rows, args.permutations, args.seed),
            dataset=args.dataset.strip())
    except ValueError as exc:
        return _fail(str(exc))
    problem = _usage(args)
    if problem:
        return _fail(problem)
    try:
        result, described = _audit(args, options)
    except InputError as exc:
        return _fail(str(exc))
    except (ImportError, OSError) as exc:
        message = dask_failure(args, exc)
        if message is None:
            raise
        return _fail(message)
    try:
        _write_reports(args, result)
        for c, audited in zip(described, result.versions, strict=False):
            write_audited(c, audited, result)
    except OSError as exc:
        return _fail(f"{exc.filename}: cannot write: {exc.strerror or exc}")
    if not args.quiet:
        from .report import render_text

        sys.stdout.write(render_text(result))
        sys.stdout.flush()
    if args.pushgateway:
        from .push import push

        try:
            push(result, args.pushgateway, args.job)
        except (OSError, ValueError) as exc:
            return _fail(f"cannot push to {args.pushgateway}: {exc}")
    return result.exit_status


def _usage(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of arguments, if anything."""
    if bool(args.versions) == bool(args.croissant):
        return "give VERSION_FILEs or --croissant METADATA.json, not both and not none"
    problem = scale_out_problem(args)
    if problem:
        return problem
    if args.dask and args.croissant:
        return "--dask reads VERSION_FILEs, not --croissant"
    return None


def _audit(args: argparse.Namespace, options: AuditOptions):
    """(the audit, the Croissant descriptions read): in this process or on ``--dask``."""
    columns = options.columns
    described, versions = [], []
    if not args.dask:
        described = [read_croissant(path, args.text_column, args.source_column,
                                    args.record_set) for path in args.croissant]
        versions = [read_records(c) for c in described] if described else \
            [read_version(path, columns) for path in args.versions]
        _unique_labels(versions)
    holdout = read_holdout(args.holdout, columns.text) if args.holdout else None
    own = None
    if args.own_answers:
        own = set()
        for path in args.own_answers:
            own |= read_hashes(path)
    if args.dask:
        return _distributed(args, options, holdout, own), described
    return run_audit(versions, options, holdout=holdout, own_hashes=own), described


def _distributed(args: argparse.Namespace, options: AuditOptions, holdout, own):
    """The audit on a Dask cluster: the scheduler at ``--dask``, or a local one."""
    from .distributed import run_audit_distributed

    with dask_client(args) as blocksize:
        return run_audit_distributed(args.versions, options, holdout=holdout, own_hashes=own,
                                     blocksize=blocksize)


def _unique_labels(versions) -> None:
    seen: dict[str, str] = {}
    for v in versions:
        if v.label in seen:
            raise InputError(v.path, 0, f"version {v.label!r} again (also {seen[v.label]}): "
                                        "each file must be another version")
        seen[v.label] = v.path


def _write_reports(args: argparse.Namespace, result) -> None:
    from .report import render_json, render_markdown

    for path, render, appendable in ((args.json, render_json, False),
                                     (args.markdown, render_markdown, True)):
        if path:
            mode = "a" if appendable and is_step_summary(path) else "w"
            with open(path, mode, encoding="utf-8") as f:
                f.write(render(result))


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return 2
