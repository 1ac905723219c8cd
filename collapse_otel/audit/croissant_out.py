"""The audit's results written back as Croissant: a copy of the input description, beside it
(``NAME.collapse-audit.json``), with Responsible-AI properties set from the rows.

- ``rai:hasSyntheticData``: whether any row comes from a synthetic source (measured).
- ``rai:dataLimitations``: one more sentence, the measured synthetic share with its 95%
  interval and whether the declaration held (the publisher's sentences are kept).
- ``collapseAudit:*``: the same figures as numbers, for tools (an extra namespace, which
  Croissant readers ignore).

Counts and shares only: no row text, so the file is an ordinary 0644 file. The input is only
read; the output is replaced atomically.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..version import __version__
from .croissant import RAI, Croissant
from .engine import AuditResult, VersionAudit

SUFFIX = ".collapse-audit.json"
NAMESPACE = "https://github.com/collapse-otel/collapse-otel/blob/main/README.md#croissant-"
PREFIX = "collapseAudit"


def output_path(path: str | os.PathLike[str]) -> Path:
    """``data/card.json`` -> ``data/card.collapse-audit.json``."""
    p = Path(path)
    name = p.name
    for ext in (".jsonld", ".json"):
        if name.lower().endswith(ext) and len(name) > len(ext):
            name = name[:-len(ext)]
            break
    return p.with_name(name + SUFFIX)


def _context(doc: dict) -> None:
    """The ``rai`` and extra prefixes, added to the description's context."""
    prefixes = {"rai": RAI, PREFIX: NAMESPACE}
    ctx = doc.get("@context")
    if isinstance(ctx, dict):
        for k, v in prefixes.items():
            ctx.setdefault(k, v)
    elif isinstance(ctx, list):
        ctx.append(prefixes)
    else:
        doc["@context"] = [ctx, prefixes] if ctx else prefixes


def _key(doc: dict, term: str) -> str:
    """The key the description already uses for a RAI term, else ``rai:term``."""
    for key in (term, f"rai:{term}", f"{RAI}{term}"):
        if key in doc:
            return key
    return f"rai:{term}"


def sentence(a: VersionAudit, result: AuditResult) -> str:
    lo, hi = a.synthetic_interval
    sources = ", ".join(sorted(result.options.synthetic_sources))
    text = (f"collapse-otel {__version__} audit: {a.synthetic_rows} of {a.rows} records come "
            f"from synthetic sources ({sources}), a share of {a.synthetic_share:.1%} (95% "
            f"interval {lo:.1%} to {hi:.1%}).")
    if a.declaration_agrees is True:
        text += " This agrees with the declared rai:hasSyntheticData."
    elif a.declaration_agrees is False:
        text += (" This contradicts the declared rai:hasSyntheticData "
                 f"({str(a.declared_synthetic).lower()}).")
    return text


def audited(c: Croissant, a: VersionAudit, result: AuditResult) -> dict[str, Any]:
    """The description with the audit's properties (a copy: the input is not touched)."""
    doc = copy.deepcopy(c.document)
    _context(doc)
    doc[_key(doc, "hasSyntheticData")] = a.synthetic_rows > 0
    key = _key(doc, "dataLimitations")
    previous = doc.get(key)
    mine = sentence(a, result)
    kept = [s for s in (previous if isinstance(previous, list) else [previous])
            if s is not None and not (isinstance(s, str) and s.startswith("collapse-otel "))]
    doc[key] = [*kept, mine] if kept else mine
    lo, hi = a.synthetic_interval
    figures = {
        "recordSet": c.record_set, "textField": c.text_field, "sourceField": c.source_field,
        "records": a.rows, "syntheticRecords": a.synthetic_rows,
        "syntheticShare": round(a.synthetic_share, 6),
        "syntheticShareLow": round(lo, 6), "syntheticShareHigh": round(hi, 6),
        "syntheticSources": ",".join(sorted(result.options.synthetic_sources)),
        "declaredSyntheticData": a.declared_synthetic,
        "declarationAgrees": a.declaration_agrees,
        "tool": f"collapse-otel {__version__}",
    }
    for k, v in figures.items():
        doc[f"{PREFIX}:{k}"] = v
    return doc


def write_audited(c: Croissant, a: VersionAudit, result: AuditResult) -> Path:
    """Write ``NAME.collapse-audit.json`` beside the description; return its path."""
    out = output_path(c.path)
    if out.resolve() == Path(c.path).resolve():   # never the input, whatever its name
        raise OSError(0, "the output would replace the input", str(out))
    text = json.dumps(audited(c, a, result), indent=2, ensure_ascii=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out
