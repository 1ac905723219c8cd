"""The audit of a fine-tuning set's versions: sources, synthetic share and its trend,
diversity per source, holdout contamination and the service's own answers.

The gate (exit status 1) judges the latest version's synthetic share (the version about to
be trained on; earlier versions give the trend) and every version's contamination of the
holdout (a model trained on any of them has seen those holdout rows). A version whose
Croissant metadata declares ``rai:hasSyntheticData`` fails too when its rows contradict it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..signals.minhash import MinHasher
from ..state.answer_hashes import answer_hash
from .contamination import Contamination, TrainingIndex, contamination, sketch
from .diversity import Diversity, DiversityOptions, measure
from .inputs import Columns, Holdout, Version

DEFAULT_SYNTHETIC = ("synthetic", "distilled", "self_train")


@dataclass(frozen=True)
class AuditOptions:
    columns: Columns = Columns()
    synthetic_sources: frozenset[str] = frozenset(DEFAULT_SYNTHETIC)
    max_synthetic_share: float = 0.5      # the latest version above it fails the gate
    threshold: float = 0.8                # Jaccard of word 5-gram shingles: contamination
    rising_versions: int = 3              # warn when the share rose this many versions in a row
    diversity: DiversityOptions | None = field(default_factory=DiversityOptions)
    dataset: str = "default"
    examples: int = 10                    # contaminated rows listed per version (line numbers)

    def __post_init__(self) -> None:
        object.__setattr__(self, "synthetic_sources", frozenset(   # as the inputs name them
            s.strip().lower() for s in self.synthetic_sources if s.strip()))
        if not 0.0 <= self.max_synthetic_share <= 1.0:
            raise ValueError("the maximum synthetic share must be in [0, 1]")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("the near-duplicate threshold must be in (0, 1]")
        if self.rising_versions < 1:
            raise ValueError("rising versions must be >= 1")
        if self.examples < 0:
            raise ValueError("examples must be >= 0")
        if not self.synthetic_sources:
            raise ValueError("name at least one synthetic source")
        d = self.diversity
        if d is not None:
            if d.sample_size < 4 or d.min_rows < 4:
                raise ValueError("the sample size and the minimum rows per source must be >= 4")
            if d.permutations < 20:
                raise ValueError("permutations must be >= 20")


@dataclass(frozen=True)
class OwnAnswers:
    rows: int
    share: float


@dataclass(frozen=True)
class VersionAudit:
    label: str
    path: str
    kind: str
    rows: int
    sources: dict[str, int]               # rows per source, by source name
    synthetic_rows: int
    synthetic_share: float
    change: float | None                  # synthetic share minus the previous version's
    rises: int                            # versions in a row whose share rose, ending here
    contamination: Contamination | None   # None without a holdout
    own_answers: OwnAnswers | None        # None without answer hashes
    diversity: Diversity | None           # None when not measured
    synthetic_interval: tuple[float, float] = (0.0, 1.0)   # Wilson 95% of the share
    declared_synthetic: bool | None = None  # what its metadata declares (Croissant)

    @property
    def declaration_agrees(self) -> bool | None:
        """Whether ``rai:hasSyntheticData`` matches the rows (None: nothing declared)."""
        if self.declared_synthetic is None:
            return None
        return self.declared_synthetic == (self.synthetic_rows > 0)

    def share(self, source: str) -> float:
        return self.sources.get(source, 0) / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class AuditResult:
    options: AuditOptions
    versions: tuple[VersionAudit, ...]
    holdout_path: str | None
    holdout_rows: int
    holdout_contaminated: int             # holdout rows contaminated by any version
    own_answer_hashes: int | None         # hashes read (None: not given)
    failures: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def latest(self) -> VersionAudit:
        return self.versions[-1]

    @property
    def exit_status(self) -> int:
        return 1 if self.failures else 0


def run_audit(versions: Sequence[Version], options: AuditOptions | None = None, *,
              holdout: Holdout | None = None, own_hashes: set[int] | None = None,
              progress: Callable[[str], object] | None = None) -> AuditResult:
    """Audit the versions in the order given (oldest first)."""
    opts = options or AuditOptions()
    if not versions:
        raise ValueError("no dataset versions")
    step = progress or (lambda _msg: None)
    minhasher = MinHasher()
    held = sketch(holdout.texts, minhasher) if holdout is not None else None
    contaminated_lines: set[int] = set()
    audits: list[VersionAudit] = []
    previous: VersionAudit | None = None
    for v in versions:
        step(f"version {v.label}: {len(v)} rows")
        counts: dict[str, int] = {}
        for source in v.sources:
            counts[source] = counts.get(source, 0) + 1
        found = None
        if holdout is not None and held is not None:
            index = TrainingIndex(sketch(v.texts, minhasher), v.lines, opts.threshold,
                                  minhasher)
            found = contamination(index, held, holdout.lines)
            contaminated_lines.update(m.holdout_line for m in found.matches)
        own = None
        if own_hashes is not None:
            own = sum(answer_hash(t) in own_hashes for t in v.texts)
        diversity = None
        if opts.diversity is not None:
            diversity = measure(v.label, v.texts, v.sources, opts.synthetic_sources,
                                opts.diversity)
        previous = version_audit(opts, previous, v.label, v.path, v.kind, len(v), counts,
                                 found, own, diversity, v.declared_synthetic)
        audits.append(previous)
    return audit_result(opts, audits, holdout, len(contaminated_lines),
                        len(own_hashes) if own_hashes is not None else None)


def version_audit(opts: AuditOptions, previous: VersionAudit | None, label: str, path: str,
                  kind: str, rows: int, counts: dict[str, int], found: Contamination | None,
                  own_hits: int | None, diversity: Diversity | None,
                  declared_synthetic: bool | None = None) -> VersionAudit:
    """One version's figures from its merged counts (shared by the single-process and the
    partitioned audit, so both judge alike)."""
    synthetic = sum(n for s, n in counts.items() if s in opts.synthetic_sources)
    share = synthetic / rows
    change = None if previous is None else share - previous.synthetic_share
    rises = previous.rises + 1 if previous is not None and change is not None \
        and change > 0 else 0
    own = None if own_hits is None else OwnAnswers(own_hits, own_hits / rows)
    return VersionAudit(label, path, kind, rows, dict(sorted(counts.items())), synthetic,
                        share, change, rises, found, own, diversity, wilson(synthetic, rows),
                        declared_synthetic)


def audit_result(opts: AuditOptions, audits: list[VersionAudit], holdout: Holdout | None,
                 contaminated: int, own_hashes: int | None) -> AuditResult:
    failures, warnings = _gate(audits, opts)
    return AuditResult(opts, tuple(audits), holdout.path if holdout is not None else None,
                       len(holdout) if holdout is not None else 0, contaminated, own_hashes,
                       tuple(failures), tuple(warnings))


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of k in n (95%): the rows as a sample of the process that
    made the corpus, so a declaration is judged against more than one number."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half) if k else 0.0, min(1.0, centre + half) if k < n else 1.0


def _declaration(a: VersionAudit) -> str | None:
    """The sentence when the metadata's ``rai:hasSyntheticData`` contradicts the rows."""
    if a.declaration_agrees is not False:
        return None
    lo, hi = a.synthetic_interval
    measured = (f"{a.synthetic_rows} of its {a.rows} rows "
                f"{'comes' if a.synthetic_rows == 1 else 'come'} from synthetic sources "
                f"(share {a.synthetic_share:.1%}, 95% interval {lo:.1%} to {hi:.1%})")
    if a.declared_synthetic:
        return (f"version {a.label}: its metadata declares synthetic data "
                f"(rai:hasSyntheticData true) but none of its {a.rows} rows comes from a "
                f"synthetic source (95% interval of the share {lo:.1%} to {hi:.1%}): are "
                "--synthetic-sources complete?")
    return (f"version {a.label}: its metadata declares no synthetic data "
            f"(rai:hasSyntheticData false) but {measured}")


def _gate(audits: list[VersionAudit], opts: AuditOptions) -> tuple[list[str], list[str]]:
    failures, warnings = [], []
    latest = audits[-1]
    if latest.synthetic_share > opts.max_synthetic_share:
        failures.append(f"version {latest.label}: synthetic share {latest.synthetic_share:.1%} "
                        f"is above the maximum {opts.max_synthetic_share:.1%}")
    for a in audits:
        if a.contamination is not None and a.contamination.contaminated:
            n = a.contamination.contaminated
            failures.append(f"version {a.label}: {n} holdout row{'s' * (n != 1)} "
                            f"{'have' if n != 1 else 'has'} a near duplicate among its "
                            f"training rows")
    failures += [s for s in map(_declaration, audits) if s]
    if latest.rises >= opts.rising_versions:
        warnings.append(f"the synthetic share rose in {latest.rises} versions in a row, up "
                        f"to version {latest.label}")
    return failures, warnings
