"""Configuration: argument > environment variable > default; bad values warn and fall back."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.config.envvars import ENV_VARS


def test_precedence():
    env = {"COLLAPSE_OTEL_WINDOW_ANSWERS": "500", "COLLAPSE_OTEL_RELEASE": "from-env"}
    cfg = CollapseConfig.resolve(env, release="from-arg")
    assert cfg.window_answers == 500 and cfg.release == "from-arg"
    assert CollapseConfig.resolve({}).window_answers == 10_000


def test_otel_service_name_is_the_fallback_service():
    assert CollapseConfig.resolve({"OTEL_SERVICE_NAME": "checkout"}).service == "checkout"
    assert CollapseConfig.resolve({"OTEL_SERVICE_NAME": "a", "COLLAPSE_OTEL_SERVICE": "b"}
                                  ).service == "b"


@pytest.mark.parametrize("name,value", [("COLLAPSE_OTEL_WINDOW_ANSWERS", "lots"),
                                        ("COLLAPSE_OTEL_MAX_STREAMS", "-3"),
                                        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                                         "maybe")])
def test_bad_env_value_warns_and_falls_back(name, value, caplog, fresh_warnings):
    with caplog.at_level(logging.WARNING):
        cfg = CollapseConfig.resolve({name: value})
    assert cfg == CollapseConfig()
    assert caplog.records


def test_unknown_argument_is_an_error():
    with pytest.raises(TypeError):
        CollapseConfig.resolve({}, windw_answers=3)


def test_every_env_var_maps_to_a_field_with_the_same_default():
    fields = {f.name: f.default for f in dataclasses.fields(CollapseConfig)}
    for var in ENV_VARS:
        assert var.field in fields, var.name
        if var.default is not None:
            assert fields[var.field] == var.default, var.name


@pytest.mark.parametrize("value,expected", [("SPAN_ONLY", True), ("span_and_event", True),
                                            ("EVENT_ONLY", False), ("NO_CONTENT", False),
                                            ("true", True), ("false", False)])
def test_content_capture_accepts_util_genai_modes(value, expected):
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert CollapseConfig.resolve(env).capture_message_content is expected


@pytest.mark.parametrize("env,overrides,message", [
    ({"COLLAPSE_OTEL_WINDOW_ANSWERS": "lots"}, {}, "COLLAPSE_OTEL_WINDOW_ANSWERS"),
    ({"COLLAPSE_OTEL_WINDOW_ANSWERS": ""}, {}, "empty"),
    ({"COLLAPSE_OTEL_MAX_STREAMS": "-3"}, {}, "max_streams must be >= 1"),
    ({}, {"window_answers": "-5"}, "window_answers must be >= 1"),
    ({}, {"window_seconds": "nan"}, "window_seconds"),
    ({}, {"capture_message_content": 1}, "capture_message_content"),
])
def test_strict_resolution_raises_where_the_host_path_falls_back(env, overrides, message):
    from collapse_otel.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        CollapseConfig.resolve(env, strict=True, **overrides)
    if not overrides:   # in a host application the same env never raises (empty is unset)
        assert CollapseConfig.resolve(env) == CollapseConfig()


def test_strict_parses_quoted_values_like_env_strings():
    cfg = CollapseConfig.resolve({}, strict=True, window_answers="500", window_seconds=60,
                                 capture_message_content="span_only")
    assert (cfg.window_answers, cfg.window_seconds, cfg.capture_message_content) == \
        (500, 60.0, True)


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Warnings are given once per process; each test starts with none given."""
    from collapse_otel.config import settings as config

    monkeypatch.setattr(config, "_warned", set())


def test_one_out_of_range_value_falls_back_for_its_own_field_only(caplog, fresh_warnings):
    env = {"COLLAPSE_OTEL_MEMORY_BUDGET_MB": "-5", "COLLAPSE_OTEL_WINDOW_ANSWERS": "500"}
    args = dict(release="v7", previous_release="v6", prometheus_port=9999)
    with caplog.at_level(logging.WARNING):
        cfg = CollapseConfig.resolve(env, **args)
        again = CollapseConfig.resolve(env, **args)   # the pipeline resolves it again
    assert cfg == again
    assert (cfg.release, cfg.previous_release, cfg.prometheus_port, cfg.window_answers) == \
        ("v7", "v6", 9999, 500)
    assert cfg.memory_budget_mb == CollapseConfig().memory_budget_mb
    (record,) = caplog.records                       # named once, not once per resolution
    assert "COLLAPSE_OTEL_MEMORY_BUDGET_MB" in record.getMessage()
    assert "using its default 512" in record.getMessage()


def test_an_invalid_argument_falls_back_alone(caplog, fresh_warnings):
    with caplog.at_level(logging.WARNING):
        cfg = CollapseConfig.resolve({"COLLAPSE_OTEL_QUEUE_SIZE": "50"}, memory_budget_mb=-5,
                                     release="v2", near_duplicate_threshold=3.0)
    assert (cfg.release, cfg.queue_size, cfg.memory_budget_mb,
            cfg.near_duplicate_threshold) == ("v2", 50, 512, 0.8)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert any("memory_budget_mb=-5" in m for m in messages)


def test_instrument_keeps_its_arguments_and_warns_once(tmp_path):
    """The whole path of a host application, in its own process: the lineage and the port
    given to instrument() survive a bad environment value, named in one warning."""
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stderr, format='%(message)s')\n"
        "import collapse_otel\n"
        "from collapse_otel.worker.pipeline import get_pipeline\n"
        "collapse_otel.instrument(release='v7', previous_release='v6', prometheus_port=0,\n"
        "                         metrics_export='none', langchain=False)\n"
        "collapse_otel.observe('an answer', release='v7')\n"
        "p = get_pipeline(); assert p.flush(30)\n"
        "c = p.config\n"
        "print(c.release, c.previous_release, c.prometheus_port, c.memory_budget_mb)\n")
    env = {"PATH": "/usr/bin:/bin", "COLLAPSE_OTEL_MEMORY_BUDGET_MB": "-5",
           "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["v7", "v6", "0", "512"]
    assert proc.stderr.count("COLLAPSE_OTEL_MEMORY_BUDGET_MB") == 1, proc.stderr
