"""The demo output in the README is that of a real run (regenerate: python -m tests.demo_readme)."""

from __future__ import annotations

from tests.conftest import require_module
from tests.demo_readme import README, demo_output, with_demo_output


def test_readme_demo_output_is_a_real_run():
    require_module("langchain_core")
    output = demo_output()
    assert "collapse_answers_total" in output and "pipeline: streams 3" in output
    readme = README.read_text(encoding="utf-8")
    assert with_demo_output(readme, output) == readme, \
        "the README's demo output is stale: run python -m tests.demo_readme"
