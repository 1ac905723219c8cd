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


# Modules whose tests start real processes (serve, Prometheus, promtool, Pushgateway, a
# browser, gunicorn, workers, wheels) or run simulations and scale checks: `make test-fast`
# leaves them out (pytest -m "not slow"); `make test` runs everything. A slow test in another
# module carries @pytest.mark.slow itself.
SLOW_MODULES = frozenset({
    "test_audit_cli", "test_audit_e2e", "test_calibration", "test_cli_packaging",
    "test_compare_cli", "test_compare_html_browser", "test_demo", "test_demo_docs",
    "test_e2e_prometheus", "test_examples", "test_export_prometheus", "test_export_server",
    "test_feedback_e2e", "test_feedback_spans", "test_feedback_window", "test_metrics_export",
    "test_multiprocess", "test_multiprocess_workers", "test_near_duplicates",
    "test_near_duplicates_templated", "test_ops_e2e", "test_question_spike_e2e",
    "test_docs", "test_rollouts", "test_rules_promtool", "test_rules_zero_error",
    "test_serve_collector_configs", "test_serve_fuzz", "test_serve_held", "test_serve_load",
    "test_serve_replicas", "test_serve_settings", "test_serve_state", "test_simulation",
    "test_tail_signals", "test_validation", "test_verdict_e2e", "test_capture_completion_hook",
    "test_serve_instrumentors", "test_mixin_generate", "test_layering",
    "test_serve_head_deadline", "test_serve_memory_bound", "test_serve_wal",
    "test_dashboard_zscore", "test_embedders", "test_verdict_critical", "test_verdict_null_run",
    "test_capture_bounds",
})


# Single tests that take several seconds (the slowest of `pytest -m "not slow" --durations`
# on a loaded 2-core machine, 163 s for the first): also left out of `make test-fast`.
SLOW_TESTS = frozenset({
    "test_memory_budget.py::test_two_hundred_streams_stay_under_the_budget_and_count_every_answer",
    "test_capture_faults.py::test_ten_thousand_calls_with_faults",
    "test_serve_body.py::test_trickling_bodies_do_not_block_other_clients_and_are_cut_at_the_deadline",
    "test_compare_engine.py::test_permutation_false_positive_rate_under_the_null",
    "test_state_snapshots.py::test_a_snapshot_does_not_hold_a_second_copy_of_the_state",
    "test_export_labels.py::test_100k_release_names_stay_within_the_stream_cap",
    "test_capture_dedupe.py::test_memory_is_bounded",
    "test_aggregator.py::test_stream_cap_folds_into_other_and_bounds_memory",
})


def pytest_configure(config: pytest.Config) -> None:
    # registered here, not in pyproject.toml, whose hash keys the Makefile's venv stamp
    config.addinivalue_line(
        "markers", "slow: starts real processes or runs long checks; make test-fast skips it")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        test = f"{module}.py::{getattr(item, 'originalname', item.name)}"
        if module in SLOW_MODULES or test in SLOW_TESTS or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)


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
        pytest.skip(f"{name} not installed (pip install --group test)")


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
