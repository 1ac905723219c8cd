"""Shared fixtures: the shipped test data and helpers to build records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
HUMAN_VS_LLM = DATA / "human-vs-llm"
REFERENCE = DATA / "reference"
IN_CI = os.environ.get("CI", "").lower() == "true"


def load_texts(file_name: str) -> dict[str, list[str]]:
    return json.loads((HUMAN_VS_LLM / file_name).read_text())


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads((REFERENCE / "metric-values.json").read_text())


def require_module(name: str):
    """Import a test-extra module; skip when missing on a laptop, fail when CI=true."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (it is in the test extra)")
        pytest.skip(f"{name} not installed (pip install -e '.[test]')")


def require_binary(name: str, package: str = "prometheus") -> str:
    """Path of a system binary; skip when missing on a laptop, fail when CI=true."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (Debian package '{package}')")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


@pytest.fixture(scope="session")
def ops_stack(tmp_path_factory: pytest.TempPathFactory):
    """The demo, a healthy canary and a real Prometheus with the generated rules, shared by
    the end-to-end ops tests (tests/ops_stack.py)."""
    from tests.ops_stack import running_stack

    with running_stack(tmp_path_factory.mktemp("ops-e2e")) as stack:
        yield stack
