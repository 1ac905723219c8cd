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
from tests.support.serve import REPO


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


# -- one strict parser for every source ------------------------------------------------------

def _serve(tmp_path, yaml_text: str | None = None, env: dict | None = None,
           *flags: str) -> subprocess.CompletedProcess:
    """The real command, loopback and free ports; it must exit by itself (status 2)."""
    args = ["--otlp-http-port", "0", "--otlp-grpc-port", "-1", "--metrics-port", "0", *flags]
    if yaml_text is not None:
        cfg = tmp_path / "serve.yaml"
        cfg.write_text(yaml_text)
        args = ["--config", str(cfg), *args]
    return subprocess.run([sys.executable, "-m", "collapse_otel.serve", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def _one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapse-otel serve: "), result.stderr
    assert expected in lines[0], lines[0]


INVALID = {   # id: (YAML file, environment, flags, part of the message)
    "yaml-port-abc": ("otlp_http_port: abc\n", None, (), "otlp_http_port"),
    "yaml-quoted-body-100": ('max_body_bytes: "100"\n', None, (), "max_body_bytes must be >= 1024"),
    "yaml-body-100": ("max_body_bytes: 100\n", None, (), "max_body_bytes must be >= 1024"),
    "yaml-host-list": ("host: [1, 2]\n", None, (), "host"),
    "yaml-bool-maybe": ("allow_insecure: maybe\n", None, (), "allow_insecure"),
    "yaml-int-float": ("max_queued_answers: 1.5\n", None, (), "max_queued_answers"),
    "yaml-nan": ("snapshot_seconds: .nan\n", None, (), "snapshot_seconds"),
    "yaml-negative-hold": ("hold_seconds: -1\n", None, (), "hold_seconds"),
    "yaml-negative-window": ("collapse:\n  window_answers: -5\n", None, (),
                             "window_answers must be >= 1"),
    "yaml-window-lots": ("collapse:\n  window_answers: lots\n", None, (), "window_answers"),
    "yaml-collapse-typo": ("collapse:\n  windw_answers: 5\n", None, (), "windw_answers"),
    "yaml-syntax": ("key: [unclosed\n", None, (), "cannot read config file"),
    "env-empty-host": (None, {"COLLAPSE_OTEL_SERVE_HOST": ""}, (), "COLLAPSE_OTEL_SERVE_HOST"),
    "env-hold-soon": (None, {"COLLAPSE_OTEL_SERVE_HOLD_SECONDS": "soon"}, (),
                      "COLLAPSE_OTEL_SERVE_HOLD_SECONDS"),
    "env-negative-window": (None, {"COLLAPSE_OTEL_WINDOW_ANSWERS": "-5"}, (),
                            "window_answers must be >= 1"),
    "env-window-lots": (None, {"COLLAPSE_OTEL_WINDOW_ANSWERS": "lots"}, (),
                        "COLLAPSE_OTEL_WINDOW_ANSWERS"),
    "flag-seconds-abc": (None, None, ("--snapshot-seconds", "abc"), "--snapshot-seconds"),
    "flag-blank-host": (None, None, ("--host", " "), "--host"),
}


@pytest.mark.parametrize("yaml_text,env,flags,expected", INVALID.values(), ids=INVALID.keys())
def test_invalid_values_exit_2_with_one_line(tmp_path, yaml_text, env, flags, expected):
    _one_line_error(_serve(tmp_path, yaml_text, env, *flags), expected)


def test_quoted_yaml_scalars_parse_like_env_strings(tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text('otlp_http_port: "5000"\nmax_body_bytes: "2048"\nhold_seconds: "2.5"\n'
                   'allow_insecure: "true"\nhost: 0.0.0.0\ncollapse:\n  window_answers: "500"\n')
    s, _ = resolve(["--config", str(cfg)], environ={})
    assert (s.otlp_http_port, s.max_body_bytes, s.hold_seconds, s.allow_insecure) == \
        (5000, 2048, 2.5, True)
    assert Service(s).config.window_answers == 500


def test_quoted_false_does_not_open_a_non_loopback_bind(tmp_path):
    """A templating tool writes ``allow_insecure: "false"``: that is False, not a true str."""
    text = 'host: 0.0.0.0\nallow_insecure: "false"\n'
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match="without a bearer token"):
        resolve(["--config", str(cfg)], environ={})
    _one_line_error(_serve(tmp_path, text), "without a bearer token")
    env = {"COLLAPSE_OTEL_SERVE_ALLOW_INSECURE": "FALSE", "COLLAPSE_OTEL_SERVE_HOST": "0.0.0.0"}
    with pytest.raises(SettingsError, match="without a bearer token"):
        resolve([], environ=env)
