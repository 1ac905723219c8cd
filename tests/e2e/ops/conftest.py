"""The ops stack, shared by the modules of this folder only: it starts before the first of
them and stops after the last (package scope), not at the end of the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def ops_stack(tmp_path_factory: pytest.TempPathFactory):
    """The demo, a healthy canary and a real Prometheus with the generated rules
    (tests/support/ops_stack.py)."""
    from tests.support.ops_stack import running_stack

    with running_stack(tmp_path_factory.mktemp("ops-e2e")) as stack:
        yield stack
