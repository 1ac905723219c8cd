"""Configuration: argument > environment variable > default; bad values warn and fall back."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.envvars import ENV_VARS


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
def test_bad_env_value_warns_and_falls_back(name, value, caplog):
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
