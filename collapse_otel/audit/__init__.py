"""Training-data provenance for fine-tuning sets (``collapse-otel audit`` is its CLI).

Per dataset version: rows and share per source, the synthetic share and its trend, the
registry's diversity signals per source at equal sample size (synthetic vs human through the
comparison engine), near-duplicate contamination of a holdout set and the share of rows that
are the service's own earlier answers (``COLLAPSE_OTEL_ANSWER_HASH_FILE``).

Light on import: the heavier modules load only when used. The answer-hash file the audit
reads is written by the aggregator: ``collapse_otel.state.answer_hashes``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "AuditOptions": "engine", "AuditResult": "engine", "VersionAudit": "engine",
    "run_audit": "engine", "Columns": "inputs", "read_version": "inputs",
    "read_holdout": "inputs", "read_hashes": "inputs", "DiversityOptions": "diversity",
    "read_croissant": "croissant", "write_audited": "croissant_out",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def main(argv=None) -> int:
    """``collapse-otel audit`` (the CLI loads only when called)."""
    from .cli import main as _main

    return _main(argv)


__all__ = ["AuditOptions", "AuditResult", "Columns", "DiversityOptions", "VersionAudit", "main",
           "read_croissant", "read_hashes", "read_holdout", "read_version", "run_audit",
           "write_audited"]
