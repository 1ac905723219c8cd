"""Every example runs offline with the venv's python and prints what its docstring promises."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

from tests.support.waiting import run_watched

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("COLLAPSE_OTEL_", "OTEL_"))}
    out = run_watched(list(argv), cwd=ROOT, env={**clean, **(env or {})})
    assert out.returncode == 0, f"{argv} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def fields(line: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.split())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_langchain_rag():
    out = run(sys.executable, str(EXAMPLES / "langchain_rag.py"), "--port", "0")
    lines = out.splitlines()
    healthy, collapsed = fields(lines[0]), fields(lines[1])
    assert healthy["release"] == "2025.05" and collapsed["release"] == "2025.06"
    assert healthy["answers"] == collapsed["answers"] == "40"
    assert int(collapsed["exact_duplicates"]) > int(healthy["exact_duplicates"])
    assert float(collapsed["distinct_2"]) < float(healthy["distinct_2"])
    assert float(collapsed["context_distinct_ratio"]) < float(healthy["context_distinct_ratio"])
    assert re.search(r'^collapse_answers_total\{.*release="2025.06".*\} 40.0$', out, re.M)


def test_existing_otel_app_both_paths():
    for extra in ((), ("--hand-made",)):
        f = fields(run(sys.executable, str(EXAMPLES / "existing_otel_app.py"), *extra)
                   .replace("hand-made GenAI spans", "hand-made").strip())
        assert f["service"] == "helpdesk" and f["release"] == "3.2.0"
        assert (f["answers"], f["prompt_tokens"], f["completion_tokens"]) == ("6", "240", "54")
        assert f["context_distinct_ratio"] == f"{5 / 12:.3f}"
        assert f["source"] == ("hand-made" if extra else "openinference")


def test_plain_observe():
    v1, v2 = (fields(line) for line in run(sys.executable,
                                           str(EXAMPLES / "plain_observe.py")).splitlines())
    assert v1["answers"] == v2["answers"] == "300"
    assert int(v2["exact_duplicates"]) > 200 > int(v1["exact_duplicates"])
    assert float(v2["vendi"]) < float(v1["vendi"])
    assert float(v2["distinct_4"]) < float(v1["distinct_4"])
    assert int(v1["estimated_completion_tokens"]) > 0


def test_zero_code_under_opentelemetry_instrument():
    out = run(str(BIN / "opentelemetry-instrument"), sys.executable,
              str(EXAMPLES / "zero_code_app.py"),
              env={"OTEL_SERVICE_NAME": "faq-bot", "COLLAPSE_OTEL_RELEASE": "1.4.2",
                   "COLLAPSE_OTEL_METRICS_PORT": str(free_port()),
                   "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    assert ('collapse_answers_total{cohort="default",release="1.4.2",service="faq-bot"} 20.0'
            in out)
    assert 'type="prompt"} 290.0' in out and 'type="completion"} 190.0' in out
