"""The benchmark harness still runs (tiny sizes; the figures themselves come from `make bench`)."""

from __future__ import annotations

from benchmarks import simulation_signals
from benchmarks.bench_signals import compiled_rows, memory_per_answer, stage_costs, throughput
from benchmarks.workloads import data_answers, generated_answers


def test_signal_benchmarks_run_on_small_inputs():
    texts = generated_answers(300)
    assert throughput(texts, repeats=1) > 0
    stages = stage_costs(texts)
    assert all(v > 0 for v in stages.values()) and len(stages) >= 5
    total, per_answer = memory_per_answer(window=400)
    assert total > per_answer > 0


def test_compiled_core_rows_run_on_small_inputs():
    """Both paths measured in one run, with their named ratios."""
    rows = compiled_rows(data_answers()[:300])
    assert [r["value"] > 0 for r in rows] == [True, True]
    assert "compiled / numpy" in rows[0]["note"] and "baseline libraries" in rows[0]["note"]
    assert "NOT BUILT" not in rows[0]["note"]


def test_simulation_signals_table_runs_on_a_small_simulation(capsys):
    assert simulation_signals.main(["--generations", "2", "--answers", "150"]) == 0
    out = capsys.readouterr().out
    assert "## replace" in out and "## accumulate" in out and "## summary" in out
    for name, _, _ in simulation_signals.SIGNALS:
        assert out.count(f"| {name} ") == 3, name  # a row in both regime tables and the summary
    assert "| gen2 " in out and "distinct_2" in out


def test_bench_prints_every_suites_rows_when_one_fails(monkeypatch, capsys):
    """A suite that raises (as OTel's collect deadline did in one warm-up) is named, and the
    rows of the suites before and after it still print."""
    import sys
    import types

    from benchmarks import __main__ as bench

    def suite(name, run):
        module = types.ModuleType(f"benchmarks.{name}")
        module.run = run
        monkeypatch.setitem(sys.modules, module.__name__, module)

    def timeout():
        raise TimeoutError("Timed out while executing callback")

    suite("fake_before", lambda: [dict(name="before row", value=1.5, unit="ms")])
    suite("fake_failing", timeout)
    suite("fake_after", lambda: [dict(name="after row", value=2, unit="ms")])
    monkeypatch.setattr(bench, "SUITES", ("fake_before", "fake_failing", "fake_after"))
    assert bench.main([], one_core=False) == 1
    out, err = capsys.readouterr()
    assert "| before row " in out and "| after row " in out
    assert "| fake_failing: FAILED " in out and "Timed out while executing callback" in out
    assert "failed suites: fake_failing" in err
    assert bench.main(["fake_before", "fake_after"], one_core=False) == 0


def test_compare_and_collapsed_traffic_rows_run_on_small_inputs():
    from benchmarks import bench_compare
    from benchmarks.workloads import templated_answers

    texts = templated_answers(400)
    assert len(set(texts)) < len(texts) and throughput(texts, repeats=1) > 0
    rows = bench_compare.run(small=150, large=300)
    assert [r["unit"] for r in rows] == ["s CPU", "s CPU", "x"] and rows[2]["value"] > 0


def test_embedder_table_runs_on_a_small_simulation(capsys):
    from benchmarks import embedders

    assert embedders.main(["--embedders", "hashed", "--answers", "150", "--sample", "150",
                           "--generations", "2", "--corpus", "wikitext",
                           "--human-sets", "xsum_gpt-4"]) == 0
    out = capsys.readouterr().out
    assert "| hashed | wikitext | 0 | replace | 2 |" in out and "| hashed | xsum_gpt-4 |" in out
    assert "replace_vendi_step=" in out
