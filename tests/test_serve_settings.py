"""Settings of serve: flag > env > YAML > default, unsafe binds refused, typos rejected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collapse_otel.serve.service import Service
from collapse_otel.serve.settings import (
    SERVE_ENV_VARS,
    ServeSettings,
    SettingsError,
    is_loopback,
    resolve,
)
from tests.test_serve_support import REPO


def test_defaults_are_loopback_and_the_otlp_ports():
    s, _ = resolve([], environ={})
    assert (s.host, s.otlp_http_port, s.otlp_grpc_port, s.metrics_port) == \
        ("127.0.0.1", 4318, 4317, 9464)
    assert s.token is None and not s.allow_insecure and s.state_file is None


def test_flag_beats_env_beats_yaml(tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("otlp-http-port: 5000\nmetrics_port: 5001\nsnapshot_seconds: 7\n"
                   "collapse:\n  window_answers: 500\n  release: fallback\n")
    env = {"COLLAPSE_OTEL_SERVE_METRICS_PORT": "6001", "COLLAPSE_OTEL_SERVE_CONFIG": str(cfg)}
    s, _ = resolve(["--metrics-port", "7001"], environ=env)
    assert (s.otlp_http_port, s.metrics_port, s.snapshot_seconds) == (5000, 7001, 7.0)
    s, _ = resolve([], environ=env)
    assert s.metrics_port == 6001
    assert dict(s.collapse) == {"window_answers": 500, "release": "fallback"}
    svc = Service(s)
    assert svc.config.window_answers == 500


def test_token_from_file_or_env_never_from_yaml(tmp_path):
    token = tmp_path / "token"
    token.write_text("abc123\n")
    s, _ = resolve(["--token-file", str(token)], environ={})
    assert s.token == "abc123"
    s, _ = resolve([], environ={"COLLAPSE_OTEL_SERVE_TOKEN": "xyz"})
    assert s.token == "xyz"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("token: inline\n")
    with pytest.raises(SettingsError, match="token_file"):
        resolve(["--config", str(cfg)], environ={})


@pytest.mark.parametrize("host,ok", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                     ("0.0.0.0", False), ("10.1.2.3", False), ("::", False)])
def test_non_loopback_bind_needs_a_token_or_allow_insecure(host, ok):
    assert is_loopback(host) == ok
    if ok:
        resolve(["--host", host], environ={})
        return
    with pytest.raises(SettingsError, match="without a bearer token"):
        resolve(["--host", host], environ={})
    assert resolve(["--host", host, "--allow-insecure"], environ={})[0].allow_insecure
    assert resolve(["--host", host], environ={"COLLAPSE_OTEL_SERVE_TOKEN": "t"})[0].token == "t"


@pytest.mark.parametrize("text,message", [
    ("otlp_htp_port: 1\n", "unknown setting"),
    ("- a list\n", "mapping"),
    ("collapse: 3\n", "collapse"),
    ("max_queued_answers: 0\n", ">= 1"),
])
def test_bad_yaml_is_an_error(tmp_path, text, message):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=message):
        resolve(["--config", str(cfg)], environ={})


def test_bad_env_value_is_an_error():
    with pytest.raises(SettingsError, match="COLLAPSE_OTEL_SERVE_OTLP_HTTP_PORT"):
        resolve([], environ={"COLLAPSE_OTEL_SERVE_OTLP_HTTP_PORT": "http"})


def test_env_vars_are_declared_for_every_setting_they_name():
    fields = set(ServeSettings.__dataclass_fields__) | {"token_file", "config"}
    assert all(v.field in fields and v.name.startswith("COLLAPSE_OTEL_SERVE_")
               for v in SERVE_ENV_VARS)


def test_command_refuses_an_unsafe_bind_with_status_2():
    result = subprocess.run([sys.executable, "-m", "collapse_otel.serve", "--host", "0.0.0.0"],
                            cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "without a bearer token" in result.stderr
