"""The demo output in docs/demo.md is that of a real run (regenerate: python -m tests.support.demo_docs)."""

from __future__ import annotations

from tests.support.demo_docs import PAGE, demo_output, with_demo_output
from tests.support.requires import require_module


def test_docs_demo_output_is_a_real_run():
    require_module("langchain_core")
    output = demo_output()
    assert "collapse_answers_total" in output and "pipeline: streams 3" in output
    page = PAGE.read_text(encoding="utf-8")
    assert with_demo_output(page, output) == page, \
        "the demo output in docs/demo.md is stale: run python -m tests.support.demo_docs"
