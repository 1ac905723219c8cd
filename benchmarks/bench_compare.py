"""compare on collapsed (templated) traffic: CPU seconds at 5,000 and 25,000 answers a side.
Work per answer must stay bounded whatever the traffic: 5x the answers should cost about 5x,
not more (the duplicate index once made it 6x at 25,000 and 23x at 50,000)."""

from __future__ import annotations

import resource

from collapse_otel.compare import CompareOptions, compare_answers

from .workloads import templated_answers


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compare_cpu(answers: int) -> float:
    """CPU seconds of ``compare_answers`` of two templated sets of ``answers`` each (200-split
    permutation tests, analysis of both sides included)."""
    a = templated_answers(answers, seed=31)
    b = templated_answers(answers, seed=32)
    start = _cpu()
    compare_answers(a, b, CompareOptions(permutations=200))
    return _cpu() - start


def run(small: int = 5000, large: int = 25_000) -> list[dict]:
    low, high = compare_cpu(small), compare_cpu(large)
    scale = large / small
    return [
        dict(name=f"compare: 2 x {small:,} templated answers", value=low, unit="s CPU",
             target="", note="collapsed traffic: 35 templates, 15% near copies"),
        dict(name=f"compare: 2 x {large:,} templated answers", value=high, unit="s CPU",
             target="", note=f"{high / large * 1e3:.2f} ms per answer a side "
                                   f"({low / small * 1e3:.2f} at {small:,})"),
        dict(name=f"compare: CPU ratio {large:,} / {small:,} answers (templated)",
             value=high / low, unit="x", target=f"<= {scale * 1.2:.0f} (linear {scale:.0f})",
             note="work per answer bounded on collapsed traffic"),
    ]
