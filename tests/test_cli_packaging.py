"""The command behaves as an installed tool: a version, ``python -m collapse_otel``, and a clear
message (not a traceback) when the demo's optional dependency is missing."""

from __future__ import annotations

import subprocess
import sys

from collapse_otel.version import __version__


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True,
                          timeout=60)


def test_version_from_the_command_and_the_module():
    for args in (("-m", "collapse_otel", "--version"), ("-m", "collapse_otel.cli", "--version")):
        proc = _run(*args)
        assert proc.returncode == 0 and proc.stdout.strip() == f"collapse-otel {__version__}"


def test_demo_without_langchain_says_what_to_install():
    code = ("import sys; sys.modules['langchain_core'] = None\n"
            "from collapse_otel.cli import main\n"
            "sys.exit(main(['demo', '--duration', '0.1']))")
    proc = _run("-c", code)
    assert proc.returncode == 2
    assert "pip install 'collapse-otel[langchain]'" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
