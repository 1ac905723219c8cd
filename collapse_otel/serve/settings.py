"""Settings of ``collapse-otel serve``: flag > environment variable > YAML file > default.

The receiver's own knobs live here (the analysis knobs stay in CollapseConfig, whose fields
the YAML file may set under ``collapse:``). The environment variables are declared in
``SERVE_ENV_VARS`` in collapse_otel/config/envvars.py, the project-wide list.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config.envvars import SERVE_ENV_VARS
from ..config.settings import CollapseConfig, ConfigError, parse_value
from ..export.server import is_loopback
from .wal import FSYNC_POLICIES


class SettingsError(ValueError):
    """An invalid or unsafe serve configuration (the command exits with status 2)."""


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317          # -1 disables gRPC
    metrics_port: int = 9464            # -1: /metrics only on the OTLP/HTTP port
    token: str | None = None            # bearer token; from env or a file, never a flag
    allow_insecure: bool = False        # accept a non-loopback bind without a token
    max_body_bytes: int = 16 * 1024 * 1024      # per request, after decompression
    body_timeout_seconds: float = 30.0  # a whole request body must arrive within this
    header_timeout_seconds: float = 10.0   # request line + headers (and keep-alive idle)
    max_queued_answers: int = 10_000    # LLM spans accepted but not analysed yet
    max_queued_bytes: int = 128 * 1024 * 1024   # decoded bytes held for requests (receiver.py)
    retry_after_seconds: int = 1
    hold_seconds: float = 10.0          # LLM spans wait this long for their trace's root
    max_traces: int = 4096              # traces held open at once
    state_file: str | None = None       # aggregator snapshots (None: no persistence)
    snapshot_seconds: float = 60.0
    wal: bool = True                    # log accepted requests before answering (state_file)
    wal_fsync: str = "always"           # always | interval | off (see serve/wal.py)
    wal_fsync_interval_ms: int = 100    # with wal_fsync: interval
    grpc_workers: int = 8
    collapse: Mapping[str, Any] = field(default_factory=dict)  # CollapseConfig overrides


_ENV = {v.field: v.name for v in SERVE_ENV_VARS if v.field != "config"}
_FIELDS = {f.name: f for f in fields(ServeSettings)}
_FLAGS = ("host", "otlp_http_port", "otlp_grpc_port", "metrics_port", "allow_insecure",
          "state_file", "snapshot_seconds", "wal", "wal_fsync", "wal_fsync_interval_ms",
          "max_body_bytes", "max_queued_answers")
_CONFIG_VAR = "COLLAPSE_OTEL_SERVE_CONFIG"
MIN_BODY_BYTES = 1024    # below this no real export fits; a smaller limit is a typo


def build_parser() -> argparse.ArgumentParser:
    # values stay str here: every source goes through the same parser (_parse)
    p = argparse.ArgumentParser(
        prog="collapse-otel serve",
        description="OTLP receiver: GenAI spans of any language in, collapse metrics out.",
        allow_abbrev=False)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--otlp-http-port", help="OTLP/HTTP port (default 4318; 0 = any)")
    p.add_argument("--otlp-grpc-port", help="OTLP/gRPC port (default 4317; -1 = off)")
    p.add_argument("--metrics-port",
                   help="/metrics port (default 9464; -1 = on the OTLP/HTTP port)")
    p.add_argument("--config", help="YAML settings file")
    p.add_argument("--token-file", help="file holding the bearer token clients must send")
    p.add_argument("--allow-insecure", action="store_true", default=None,
                   help="allow a non-loopback bind without a bearer token")
    p.add_argument("--state-file", help="snapshot file for the aggregator state")
    p.add_argument("--snapshot-seconds", help="seconds between snapshots")
    p.add_argument("--wal", metavar="on|off",
                   help="log accepted requests before answering them (default on, with "
                        "--state-file): nothing acknowledged is lost to a crash")
    p.add_argument("--wal-fsync", metavar="always|interval|off",
                   help="when the log is fsynced: before each answer (default), every "
                        "--wal-fsync-interval-ms, or never (see docs/serve.md)")
    p.add_argument("--wal-fsync-interval-ms", help="fsync interval with --wal-fsync interval")
    p.add_argument("--max-body-bytes", help="largest request body accepted")
    p.add_argument("--max-queued-answers",
                   help="answers waiting for analysis before clients are told to retry")
    p.add_argument("--print-port-file", help=argparse.SUPPRESS)  # tests: where ports go
    return p


def resolve(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
            ) -> tuple[ServeSettings, argparse.Namespace]:
    """Settings from flags, env and the YAML file, each value parsed strictly where it is
    read (SettingsError names the source), then validated as a whole."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(list(argv or ()))
    values: dict[str, Any] = {}
    config_file = _parse("config", args.config, "--config") if args.config is not None \
        else _parse("config", env[_CONFIG_VAR], _CONFIG_VAR) if _CONFIG_VAR in env else None
    if config_file is not None:
        values.update(load_yaml(config_file))
    for name, var in _ENV.items():
        if var in env:
            values[name] = _parse(name, env[var], var)
    for name in (*_FLAGS, "token_file"):
        value = getattr(args, name)
        if value is not None:
            values[name] = _parse(name, value, "--" + name.replace("_", "-"))
    token_file = values.pop("token_file", None)
    if token_file:
        try:
            values["token"] = Path(token_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"cannot read token file {token_file}: {exc}") from None
    settings = ServeSettings(**values)
    validate(settings)
    collapse_config(settings, env)   # the analysis settings are checked as strictly
    return settings, args


def load_yaml(path: str) -> dict[str, Any]:
    """Top-level keys are ServeSettings fields (dashes allowed); ``collapse:`` holds
    CollapseConfig fields. Unknown keys are an error: a typo must not pass silently."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read config file {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise SettingsError(f"{path}: expected a mapping at the top level")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name == "token":
            raise SettingsError(f"{path}: put the token in a token_file, not in the config")
        if name not in _FIELDS and name != "token_file":
            raise SettingsError(f"{path}: unknown setting {key!r}")
        if name == "collapse":
            if not isinstance(value, Mapping):
                raise SettingsError(
                    f"{path}: 'collapse' must be a mapping of CollapseConfig fields")
            out[name] = {str(k).replace("-", "_"): v for k, v in value.items()}
        else:
            out[name] = _parse(name, value, f"{key} in {path}")
    return out


def _parse(name: str, value: Any, source: str) -> Any:
    """config.parse_value, the one rule for every source; SettingsError naming the source."""
    default = _FIELDS[name].default if name in _FIELDS else None
    try:
        return parse_value(value, default, name)
    except ValueError as exc:
        raise SettingsError(f"invalid {source}: {exc}") from None


def collapse_config(settings: ServeSettings,
                    environ: Mapping[str, str] | None = None) -> CollapseConfig:
    """The analysis configuration, resolved strictly: serve must not start on a typo."""
    try:
        return CollapseConfig.resolve(environ, strict=True, **dict(settings.collapse))
    except (ConfigError, TypeError) as exc:
        raise SettingsError(str(exc)) from None


def validate(s: ServeSettings) -> None:
    if s.max_body_bytes < MIN_BODY_BYTES:
        raise SettingsError(f"max_body_bytes must be >= {MIN_BODY_BYTES}")
    for name in ("max_body_bytes", "max_queued_answers", "max_queued_bytes", "max_traces",
                 "grpc_workers", "retry_after_seconds"):
        if getattr(s, name) < 1:
            raise SettingsError(f"{name} must be >= 1")
    if s.wal_fsync not in FSYNC_POLICIES:
        raise SettingsError(f"wal_fsync must be one of {', '.join(FSYNC_POLICIES)}, "
                            f"not {s.wal_fsync!r}")
    if s.wal_fsync_interval_ms < 1:
        raise SettingsError("wal_fsync_interval_ms must be >= 1")
    if s.snapshot_seconds <= 0:
        raise SettingsError("snapshot_seconds must be > 0")
    for name in ("body_timeout_seconds", "header_timeout_seconds"):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name} must be > 0")
    if s.hold_seconds < 0:
        raise SettingsError("hold_seconds must be >= 0")
    for name in ("otlp_http_port", "otlp_grpc_port", "metrics_port"):
        port = getattr(s, name)
        if not -1 <= port <= 65535 or (name == "otlp_http_port" and port < 0):
            raise SettingsError(f"{name} out of range: {port}")
    if s.token is not None and not s.token:
        raise SettingsError("the bearer token is empty")
    if not is_loopback(s.host) and s.token is None and not s.allow_insecure:
        raise SettingsError(
            f"refusing to listen on {s.host} without a bearer token: set "
            "COLLAPSE_OTEL_SERVE_TOKEN(_FILE) or pass --allow-insecure")


