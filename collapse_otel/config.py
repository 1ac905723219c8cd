"""Configuration: one frozen dataclass, resolved as argument > environment variable > default."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .envvars import ENV_BY_FIELD
from .lineage import parse_order, parse_scoped

_log = logging.getLogger(__name__)

# booleans; the last two of each are util-genai's content capturing modes (content on spans?)
_TRUE = {"1", "true", "yes", "on", "span_only", "span_and_event"}
_FALSE = {"0", "false", "no", "off", "", "event_only", "no_content"}


@dataclass(frozen=True)
class CollapseConfig:
    """Every tunable of the pipeline. Build with :meth:`resolve` to honour env vars."""

    service: str = "unknown_service"
    release: str = "unknown"
    cohort: str = "default"
    previous_release: str = ""     # release lineage (collapse_otel.lineage): the release
    baseline_release: str = ""     # before ``release``, a pinned baseline, releases oldest
    release_order: str = ""        # first; each may hold svc=value entries
    window_answers: int = 10_000
    window_seconds: float = 3600.0
    max_streams: int = 200
    sample_size: int = 1_000
    max_answer_chars: int = 100_000
    near_duplicate_threshold: float = 0.8
    embedding_dim: int = 128
    queue_size: int = 10_000
    queue_mb: int = 64
    batch_size: int = 256
    refresh_seconds: float = 30.0
    stream_idle_seconds: float = 86_400.0
    memory_budget_mb: int = 512
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464
    capture_message_content: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.release_order, str):   # a list from code: one string
            object.__setattr__(self, "release_order", ",".join(map(str, self.release_order)))
        parse_scoped(self.previous_release)   # ValueError on a malformed value
        parse_scoped(self.baseline_release)
        parse_order(self.release_order)
        for name in ("window_answers", "max_streams", "sample_size", "max_answer_chars",
                     "embedding_dim", "queue_size", "queue_mb", "batch_size", "memory_budget_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise ValueError("near_duplicate_threshold must be in (0, 1]")
        if self.stream_idle_seconds <= 0:
            raise ValueError("stream_idle_seconds must be > 0")
        if self.refresh_seconds < 0:
            raise ValueError("refresh_seconds must be >= 0")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> CollapseConfig:
        """Arguments win over environment variables, which win over defaults.

        A malformed environment value logs a warning and falls back to the default:
        a typo in a deployment manifest must not take the host service down.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in overrides and overrides[f.name] is not None:
                values[f.name] = overrides.pop(f.name)
                continue
            overrides.pop(f.name, None)
            var = ENV_BY_FIELD.get(f.name)
            raw = env.get(var.name) if var else None
            if f.name == "service" and raw is None:
                raw = env.get("OTEL_SERVICE_NAME")
            if raw is None:
                continue
            parsed = _parse(raw, f.default)
            if parsed is None:
                _log.warning("collapse-otel: ignoring invalid %s=%r", var.name if var else f.name, raw)
                continue
            values[f.name] = parsed
        if overrides:
            raise TypeError(f"unknown config option(s): {', '.join(sorted(overrides))}")
        try:
            return cls(**values)
        except ValueError as exc:
            _log.warning("collapse-otel: invalid configuration (%s); using defaults", exc)
            return cls(**{k: v for k, v in values.items() if k in ("service", "release", "cohort")})


def _parse(raw: str, default: object) -> object | None:
    raw = raw.strip()
    try:
        if isinstance(default, bool):
            low = raw.lower()
            return True if low in _TRUE else False if low in _FALSE else None
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        return None
    return raw or None
