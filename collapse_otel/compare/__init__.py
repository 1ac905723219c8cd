"""Judge a release: compare a candidate's answers with a baseline's, signal by signal, family
by family, with intervals, p-values and a verdict (``collapse-otel compare`` is its CLI)."""

from .engine import (
    DEGRADED,
    IMPROVED,
    MIXED,
    NO_CHANGE,
    NOT_ENOUGH,
    CompareOptions,
    Comparison,
    FamilyResult,
    SignalResult,
    compare_windows,
)
from .sides import compare_answers, compare_streams, load_state, window_of_answers


def main(argv=None) -> int:
    """``collapse-otel compare`` (the CLI loads only when called)."""
    from .cli import main as _main

    return _main(argv)


__all__ = [
    "DEGRADED", "IMPROVED", "MIXED", "NO_CHANGE", "NOT_ENOUGH", "CompareOptions", "Comparison",
    "FamilyResult", "SignalResult", "compare_answers", "compare_streams", "compare_windows",
    "load_state", "main", "window_of_answers",
]
