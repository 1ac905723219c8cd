"""The demo: deterministic simulated traffic, the closing table, the CLI, and no text leaks."""

from __future__ import annotations

import io
import re
import socket

from collapse_otel.capture import CollapseCallbackHandler, Pipeline
from collapse_otel.cli import main
from collapse_otel.config import CollapseConfig
from collapse_otel.demo import run_demo
from collapse_otel.demo.agent import Traffic, sample_answers
from collapse_otel.export import names as N
from collapse_otel.export.server import make_wsgi_app
from collapse_otel.signals.batch import seq_rep_n
from collapse_otel.text.normalize import tokenize


def _table(text: str) -> dict[str, dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("collapse_")]
    rows = {}
    for line in lines:
        parts = line.split()
        rows[parts[0]] = dict(zip(("v1", "v2", "v3"), parts[-3:], strict=True))
    return rows


def test_traffic_is_deterministic_and_releases_lose_diversity_in_order():
    first, again = sample_answers(150), sample_answers(150)
    assert first == again
    assert sample_answers(150, seed=1) != first
    distinct = {r: len(set(texts)) for r, texts in first.items()}
    assert distinct["v1"] > distinct["v2"] > distinct["v3"]
    loops = {r: max(seq_rep_n(tokenize(t), 4) for t in texts) for r, texts in first.items()}
    assert loops["v3"] > 0.3 > loops["v1"]


def test_run_demo_prints_every_signal_per_release():
    out, err = io.StringIO(), io.StringIO()
    assert run_demo(port=0, duration=0.3, answers=90, out=out, err=err) == 0
    rows = _table(out.getvalue())
    header = next(ln for ln in out.getvalue().splitlines() if ln.startswith("signal"))
    assert header.split()[-3:] == ["v1", "v2", "v3"]
    for metric in N.STREAM_METRICS:
        if metric is N.WINDOW_SIGNAL_STDERR:
            continue   # the table shows values; the errors are in the exposition
        assert any(name.startswith(metric.sample_name) for name in rows), metric.name
    # every signal has a value, in every release: entity richness too, at the coverage a
    # release that names few entities reaches
    assert all(v != "-" for row in rows.values() for v in row.values()), rows
    exact = rows['collapse_duplicate_answer_ratio{kind="exact"}']
    assert float(exact["v3"]) > float(exact["v1"])
    vendi = rows["collapse_embedding_vendi_score"]
    assert float(vendi["v3"]) < float(vendi["v2"]) < float(vendi["v1"])
    assert rows["collapse_answers_total"] == {"v1": "90", "v2": "90", "v3": "90"}
    assert "metrics: http://127.0.0.1:" in err.getvalue() and "100%" in err.getvalue()
    assert "dropped 0" in out.getvalue()


def test_no_demo_text_reaches_the_exposition():
    pipeline = Pipeline(CollapseConfig(refresh_seconds=0, service="rag-demo"))
    handler = CollapseCallbackHandler(pipeline=pipeline, emit_spans=False)
    traffic = Traffic(seed=3)
    texts: list[str] = []
    for _ in range(40):
        question = traffic.next_question()
        texts.append(question)
        for release, agent in traffic.agents.items():
            texts.append(agent.ask(question, config={"callbacks": [handler],
                                                     "metadata": {"release": release}}).content)
    assert pipeline.flush(30)
    app = make_wsgi_app(source=pipeline)
    exposition = b"".join(app({"REQUEST_METHOD": "GET", "QUERY_STRING": ""},
                              lambda *a: None)).decode()
    assert 'collapse_answers_total{cohort="default",release="v3",service="rag-demo"} 40.0' \
        in exposition
    fragments = {f.strip() for t in texts for f in re.split(r"[.?!:;]", t) if len(f.strip()) >= 12}
    leaked = [f for f in fragments if f in exposition]
    assert leaked == []
    cities = {c.name for c in traffic.cities}
    assert [c for c in cities if c in exposition] == []
    pipeline.shutdown()


def test_cli_demo_and_help(capsys):
    assert main(["demo", "--answers", "30", "--duration", "0.2", "--port", "0"]) == 0
    assert "collapse_embedding_vendi_score" in capsys.readouterr().out
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_busy_port_falls_back_to_a_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = io.StringIO()
        assert run_demo(port=port, duration=0.1, answers=20, out=io.StringIO(), err=err) == 0
    assert "using a free port" in err.getvalue()
    assert f":{port}/metrics" not in err.getvalue()


def test_continuous_traffic_runs_until_interrupted_and_publishes_the_lineage(tmp_path):
    """--continuous keeps the pace past --answers until SIGTERM (clean exit, then the
    table); the lineage is configured: v1, v2, v3 in order, v1 the pinned baseline."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    log = tmp_path / "demo.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "collapse_otel.cli", "demo", "--port", "0",
                                 "--answers", "10", "--duration", "0.5", "--continuous"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            deadline = time.monotonic() + 60
            url = None
            while time.monotonic() < deadline and url is None:
                found = re.search(r"metrics: (http://\S+)", log.read_text())
                url = found and found.group(1)
                time.sleep(0.2)
            assert url, log.read_text()
            answers = 0
            while time.monotonic() < deadline and answers <= 40:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    body = resp.read().decode()
                found = re.search(r'collapse_answers_total\{[^}]*release="v3"[^}]*\} (\S+)', body)
                answers = float(found.group(1)) if found else 0
                time.sleep(0.3)
            assert answers > 40  # four times --answers: the traffic went on
            info = sorted(re.findall(r"collapse_release_info\{([^}]*)\}", body))
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "collapse_embedding_vendi_score" in out
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', i)) for i in info]
    lineage = {la["release"]: (la.get("previous_release", ""), la.get("baseline_release", ""))
               for la in labels}
    assert lineage == {"v1": ("", ""), "v2": ("v1", "v1"), "v3": ("v2", "v1")}
