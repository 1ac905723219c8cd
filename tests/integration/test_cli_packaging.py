"""The command behaves as an installed tool: a version, ``python -m collapse_otel``, and a clear
message (not a traceback) when the demo's optional dependency is missing."""

from __future__ import annotations

import subprocess
import sys

from collapse_otel.version import __version__
from tests.support.waiting import run_watched


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return run_watched([sys.executable, *code_or_args])


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


def test_an_installed_wheel_writes_the_runbook_and_the_example_config(tmp_path):
    """Built as a wheel and installed away from the checkout, the package still carries the
    runbook and the example Prometheus config: ``collapse-otel mixin --out`` writes them."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    wheels, site, out = tmp_path / "wheels", tmp_path / "site", tmp_path / "out"
    build = _run("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", str(wheels), str(root))
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("collapse_otel-*.whl")
    install = _run("-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel))
    assert install.returncode == 0, install.stderr[-2000:]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import collapse_otel\n"
            "assert collapse_otel.__file__.startswith(sys.argv[1]), collapse_otel.__file__\n"
            "from collapse_otel.cli import main; sys.exit(main(['mixin', '--out', sys.argv[2]]))")
    proc = run_watched([sys.executable, "-c", code, str(site), str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for rel in ("exporters/prometheus/runbook.md", "exporters/prometheus/prometheus.example.yml",
                "exporters/prometheus/collapse_rules.yaml"):
        assert (out / rel).read_bytes() == (root / rel).read_bytes(), rel
    # its simulation reads the corpora from where it is told, not from a checkout
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from collapse_otel.simulation import load_corpus, run_simulation\n"
            "gens = run_simulation('replace', 1, 20, human=load_corpus('sotu', sys.argv[2]))\n"
            "assert len(gens[1].answers) == 20\n"
            "load_corpus('email', sys.argv[3])")
    proc = run_watched([sys.executable, "-c", code, str(site), str(root / "tests" / "data"),
                        str(tmp_path)], cwd=tmp_path)
    assert proc.returncode == 1 and "FileNotFoundError: no ham.txt.gz in" in proc.stderr, \
        proc.stderr[-2000:]
    # the README is the long description; the test and bench tools are not extras
    metadata = (site / f"{'-'.join(wheel.name.split('-')[:2])}.dist-info" / "METADATA").read_text()
    headers, _, body = metadata.partition("\n\n")
    assert "Description-Content-Type: text/markdown" in headers
    assert body.strip() == (root / "README.md").read_text(encoding="utf-8").strip()
    extras = {line.split(": ", 1)[1] for line in headers.splitlines()
              if line.startswith("Provides-Extra: ")}
    assert {"langchain", "serve"} <= extras and not extras & {"test", "bench"}
