"""Configuration: one frozen dataclass, resolved as argument > environment variable > default."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..records.outcomes import parse_thresholds
from .envvars import ENV_BY_FIELD
from .lineage import parse_order, parse_scoped

_log = logging.getLogger(__name__)

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
# util-genai's content capturing modes (is content on spans?), for capture_message_content only
_MODES = {"span_only": True, "span_and_event": True, "event_only": False, "no_content": False}
PASS_LABELS = "pass,passed,correct,relevant,yes,true,good,grounded,faithful"
FAIL_LABELS = ("fail,failed,incorrect,not_relevant,irrelevant,no,false,bad,hallucinated,"
               "hallucination,ungrounded,unfaithful")


METRICS_EXPORTS = frozenset({"auto", "server", "otel", "none"})


class ConfigError(ValueError):
    """An invalid configuration value, raised by strict resolution (serve) only."""


@dataclass(frozen=True)
class CollapseConfig:
    """Every tunable of the pipeline. Build with :meth:`resolve` to honour env vars."""

    service: str = "unknown_service"
    release: str = "unknown"
    cohort: str = "default"
    previous_release: str = ""     # release lineage (collapse_otel.config.lineage): the release
    baseline_release: str = ""     # before ``release``, a pinned baseline, releases oldest
    release_order: str = ""        # first; each may hold svc=value entries
    window_answers: int = 10_000
    window_seconds: float = 3600.0
    max_streams: int = 200
    sample_size: int = 1_000
    max_answer_chars: int = 100_000
    answer_mode: str = "turn"      # turn: one answer per user turn | every_call: every LLM call
    answer_include: str = ""       # comma-separated globs over run / span names and tags
    answer_exclude: str = ""
    near_duplicate_threshold: float = 0.8
    embedding_dim: int = 128
    embedder: str = "hashed"       # hashed | wordllama | e5 (the ``embeddings`` extra)
    queue_size: int = 10_000
    queue_mb: int = 64
    batch_size: int = 256
    refresh_seconds: float = 30.0
    stream_idle_seconds: float = 86_400.0
    memory_budget_mb: int = 512
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464
    metrics_export: str = "auto"   # auto | server | otel | server,otel | none
    capture_message_content: bool = False
    multiproc_dir: str = ""        # several worker processes: each writes its state here
    multiproc_write_seconds: float = 10.0
    analysis: str = "thread"       # thread: in this process | process: a child process
    answer_hash_file: str = ""     # on request: hashes of the answers (collapse-otel audit)
    answer_hash_file_mb: int = 64
    evaluation_pass_labels: str = PASS_LABELS   # evaluation labels that mean pass / fail
    evaluation_fail_labels: str = FAIL_LABELS   # (comma-separated, case-insensitive)
    evaluation_thresholds: str = ""     # name>=0.7, name<=0.2, *=3: pass by score
    max_evaluators: int = 32            # evaluator names per stream, then __other__
    feedback_references: int = 65_536   # answers' references kept for record_feedback

    def __post_init__(self) -> None:
        if not isinstance(self.release_order, str):   # a list from code: one string
            object.__setattr__(self, "release_order", ",".join(map(str, self.release_order)))
        parse_scoped(self.previous_release)   # ValueError on a malformed value
        parse_scoped(self.baseline_release)
        parse_order(self.release_order)
        for name in ("window_answers", "max_streams", "sample_size", "max_answer_chars",
                     "embedding_dim", "queue_size", "queue_mb", "batch_size", "memory_budget_mb",
                     "answer_hash_file_mb", "max_evaluators", "feedback_references"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        object.__setattr__(self, "embedder", str(self.embedder).strip().lower())
        # imported here: the embedders module loads numpy, which a gunicorn master importing
        # the multiprocess hooks (and so this module) must not pay for
        from ..signals.embedders import EMBEDDER_NAMES

        if self.embedder not in EMBEDDER_NAMES:
            raise ValueError(f"embedder must be one of {', '.join(EMBEDDER_NAMES)}")
        object.__setattr__(self, "answer_mode", str(self.answer_mode).strip().lower())
        if self.answer_mode not in ("turn", "every_call"):
            raise ValueError("answer_mode must be 'turn' or 'every_call'")
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise ValueError("near_duplicate_threshold must be in (0, 1]")
        if self.stream_idle_seconds <= 0:
            raise ValueError("stream_idle_seconds must be > 0")
        if self.refresh_seconds < 0:
            raise ValueError("refresh_seconds must be >= 0")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        object.__setattr__(self, "analysis", str(self.analysis).strip().lower())
        if self.analysis not in ("thread", "process"):
            raise ValueError("analysis must be 'thread' or 'process'")
        if self.multiproc_write_seconds <= 0:
            raise ValueError("multiproc_write_seconds must be > 0")
        targets = {t.strip().lower() for t in str(self.metrics_export).split(",") if t.strip()}
        if not targets or not targets <= METRICS_EXPORTS or \
                (len(targets) > 1 and targets & {"auto", "none"}):
            raise ValueError("metrics_export must be auto, none, or server and/or otel")
        object.__setattr__(self, "metrics_export", ",".join(sorted(targets)))
        parse_thresholds(self.evaluation_thresholds)   # ValueError on a malformed value

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, *, strict: bool = False,
                **overrides: object) -> CollapseConfig:
        """Arguments win over environment variables, which win over defaults.

        A malformed environment value logs a warning and falls back to the default: a typo in
        a deployment manifest must not take the host service down. An empty one counts as
        unset, as for OpenTelemetry's own variables. ``strict`` (serve) raises ConfigError
        for both instead, and parses the arguments too (they come from a YAML file there).
        """
        env = os.environ if environ is None else environ
        # each value parsed to its field's type (parse_value), so Any: the dataclass checks
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}   # field -> where its value came from (for a warning)
        for f in fields(cls):
            if f.name in overrides and overrides[f.name] is not None:
                raw_arg = overrides.pop(f.name)
                if strict:
                    try:
                        raw_arg = parse_value(raw_arg, f.default, f.name)
                    except ValueError as exc:
                        raise ConfigError(f"invalid collapse.{f.name}: {exc}") from None
                values[f.name] = raw_arg
                sources[f.name] = f"argument {f.name}"
                continue
            overrides.pop(f.name, None)
            var = ENV_BY_FIELD.get(f.name)
            raw = env.get(var.name) if var else None
            name = var.name if var else "OTEL_SERVICE_NAME"
            if f.name == "service" and raw is None:
                raw = env.get("OTEL_SERVICE_NAME")
            if raw is None or (not strict and not raw.strip()):
                continue
            try:
                values[f.name] = parse_value(raw, f.default, f.name)
                sources[f.name] = name
            except ValueError as exc:
                if strict:
                    raise ConfigError(f"invalid {name}: {exc}") from None
                _warn_once(name, raw, str(exc), f.default)
        if overrides:
            raise TypeError(f"unknown config option(s): {', '.join(sorted(overrides))}")
        try:
            return cls(**values)
        except ValueError as exc:
            if strict:
                raise ConfigError(str(exc)) from None
        # each field is checked on its own: an invalid one falls back to its default, the
        # others (the arguments above all: lineage, ports) are kept
        kept: dict[str, Any] = {}
        for name, value in values.items():
            try:
                cls(**{name: value})
            except ValueError as exc:
                _warn_once(sources[name], value, str(exc), _DEFAULTS[name])
            else:
                kept[name] = value
        return cls(**kept)


_DEFAULTS = {f.name: f.default for f in fields(CollapseConfig)}
_warned: set[tuple[str, str]] = set()


def _warn_once(source: str, value: object, why: str, default: object) -> None:
    """One warning per setting and value in a process, however often it is resolved (the
    pipeline, the metrics server and instrument() each resolve the configuration)."""
    key = (source, repr(value))
    if key in _warned:
        return
    _warned.add(key)
    shown = value if not isinstance(value, str) else _short(value)
    _log.warning("collapse-otel: ignoring invalid %s=%s (%s); using its default %r",
                 source.removeprefix("argument "), shown, why, default)


def parse_value(value: object, default: object, name: str = "") -> object:
    """The one rule for a setting's value, whatever its source: a str (environment variable,
    flag, quoted YAML scalar) is parsed by the type of ``default`` (None: a str); any other
    value must already be of that type. ValueError, with a one-line reason, otherwise."""
    if isinstance(value, str):
        raw = value.strip()
        if not raw:
            raise ValueError("empty value")
        try:
            if isinstance(default, bool):
                low = raw.lower()
                if low in _TRUE or low in _FALSE:
                    return low in _TRUE
                if name == "capture_message_content" and low in _MODES:
                    return _MODES[low]
                raise ValueError
            if isinstance(default, int):
                return int(raw)
            if isinstance(default, float):
                number = float(raw)
                if not math.isfinite(number):
                    raise ValueError
                return number
        except ValueError:
            raise ValueError(f"{_short(value)} is not {_KIND[_kind(default)]}") from None
        return raw
    kind = _kind(default)
    if isinstance(value, bool):
        ok = kind is bool
    elif isinstance(value, int):
        ok = kind in (int, float)
    elif isinstance(value, float):
        ok = kind is float and math.isfinite(value)
    else:
        ok = False
    if not ok:
        raise ValueError(f"{_short(value)} is not {_KIND[kind]}")
    return float(value) if kind is float and isinstance(value, int | float) else value


_KIND = {bool: "a boolean (true/false)", int: "an integer", float: "a finite number",
         str: "a string"}


def _kind(default: object) -> type:
    return next((t for t in (bool, int, float) if isinstance(default, t)), str)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
