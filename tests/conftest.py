"""What every test folder shares: the slow marker and which tests carry it.

Helpers live in tests/support/; fixtures live beside the tests that use them (a folder's
conftest.py, or the module itself).
"""

from __future__ import annotations

import pytest

# Modules of tests/unit and tests/integration whose tests start real processes (serve,
# promtool, a browser, gunicorn, workers, wheels) or run scale checks: `make test-fast` leaves
# them out (pytest -m "not slow"); `make test` runs everything. Every module of tests/e2e is
# slow. A slow test in another module carries @pytest.mark.slow itself.
SLOW_MODULES = frozenset({
    "test_audit_cli", "test_cli_packaging", "test_compare_cli", "test_compare_html_browser",
    "test_examples", "test_export_prometheus", "test_export_server", "test_feedback_e2e",
    "test_feedback_spans", "test_feedback_window", "test_metrics_export", "test_multiprocess",
    "test_multiprocess_workers", "test_near_duplicates", "test_near_duplicates_templated",
    "test_docs", "test_serve_collector_configs", "test_serve_fuzz", "test_serve_held",
    "test_serve_load", "test_serve_settings", "test_serve_state", "test_capture_completion_hook",
    "test_serve_instrumentors", "test_mixin_generate", "test_layering",
    "test_serve_head_deadline", "test_serve_memory_bound", "test_serve_wal", "test_embedders",
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
        package, _, module = item.module.__name__.rpartition(".") if item.module else ("", "", "")
        test = f"{module}.py::{getattr(item, 'originalname', item.name)}"
        if (package.startswith("tests.e2e") or module in SLOW_MODULES or test in SLOW_TESTS
                or item.get_closest_marker("e2e")):
            item.add_marker(pytest.mark.slow)
