"""Where the handler's own path spends its time on the host's request thread (not run by
`make bench`): the host app's chain invoked with the real CollapseCallbackHandler, records
discarded after the queue (so no analysis runs), against a no-op handler; then cProfile of
the handler's invokes, restricted to collapse-otel's own functions.

``python -m benchmarks.profile_handler [--invokes 3000] [--rounds 5] [--agent] [--process]``: with
``--process`` the records go to a real analysis process (the separate-process design), so
what is measured is all the host pays.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time

from langchain_core.callbacks import BaseCallbackHandler

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.config import CollapseConfig
from collapse_otel.offload.host import ProcessPipeline
from collapse_otel.worker.pipeline import Pipeline

from .host_app import _agent, _chain, _model, human_answers


class _NullSink:
    """Stands in for the Aggregator: the handler's path alone."""

    def observe_batch(self, records):
        return [True] * len(records)


class _InlineNoop(BaseCallbackHandler):
    """A no-op handler that, like CollapseCallbackHandler, runs inline (a plain
    BaseCallbackHandler makes async LangChain hop to a thread pool for every callback)."""

    run_inline = True

    def on_chat_model_start(self, *args, **kwargs):
        """Defined: the base class raises NotImplementedError here, which makes LangChain
        retry as on_llm_start with the messages rendered to strings."""


def _invoke(runnable, handler, n: int) -> float:
    """CPU seconds per invoke (this process, every thread); ``handler`` None: no callbacks."""
    config = {"callbacks": [handler]} if handler is not None else {}

    async def go() -> None:
        for i in range(n):
            await runnable.ainvoke({"question": f"What does article {i} say?"}, config)

    start, thread = time.process_time(), time.thread_time()
    asyncio.run(go())
    _THREAD.append((time.thread_time() - thread) / n)
    return (time.process_time() - start) / n


_THREAD: list[float] = []   # the calling thread's share of each _invoke


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invokes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of none / no-op / handler")
    parser.add_argument("--agent", action="store_true")
    parser.add_argument("--process", action="store_true",
                        help="records go to a real analysis process (analysis='process'), "
                             "whose CPU is not this process's")
    args = parser.parse_args(argv)
    model = _model(human_answers(500))
    runnable = _agent(model) if args.agent else _chain(model)
    with tempfile.TemporaryDirectory() as directory:
        config = CollapseConfig.resolve(environ={}, queue_size=1_000_000,
                                        multiproc_dir=directory)
        pipeline = ProcessPipeline(config) if args.process else \
            Pipeline(config, aggregator=_NullSink())
        try:
            return _measure(args, runnable, pipeline)
        finally:
            pipeline.shutdown(60)


def _measure(args: argparse.Namespace, runnable, pipeline) -> int:
    handler = CollapseCallbackHandler(pipeline=pipeline)
    noop = _InlineNoop()
    _invoke(runnable, noop, 200)
    _invoke(runnable, handler, 200)
    pipeline.flush(30)
    rounds: dict[str, list[float]] = {"none": [], "noop": [], "handler": []}
    threads: dict[str, list[float]] = {"noop": [], "handler": []}
    per_round = max(1, args.invokes // args.rounds)
    for _ in range(args.rounds):
        rounds["none"].append(_invoke(runnable, None, per_round))
        rounds["noop"].append(_invoke(runnable, noop, per_round))
        threads["noop"].append(_THREAD[-1])
        rounds["handler"].append(_invoke(runnable, handler, per_round))
        threads["handler"].append(_THREAD[-1])
        pipeline.flush(30)
    on_thread = statistics.median(h - b for h, b in zip(threads["handler"], threads["noop"],
                                                         strict=True)) * 1e6
    none = statistics.median(rounds["none"]) * 1e6
    base = statistics.median(rounds["noop"]) * 1e6
    extra = statistics.median(h - b for h, b in zip(rounds["handler"], rounds["noop"],
                                                     strict=True)) * 1e6
    best = {k: min(v) * 1e6 for k, v in rounds.items()}
    print(f"no handler: {none:.0f} us CPU per invoke; an inline no-op handler: {base:.0f} us "
          f"(LangChain's callback dispatch); the handler adds {extra:.0f} us "
          f"({(base + extra) / base:.3f}x), {on_thread:.0f} us of it on the calling thread; "
          + ("records sent to the analysis process" if args.process
             else "records discarded after the queue"))
    print(f"best of {args.rounds} rounds of {per_round}: none {best['none']:.0f} us, no-op "
          f"{best['noop']:.0f} us (LangChain +{best['noop'] - best['none']:.0f}), handler "
          f"{best['handler']:.0f} us (collapse-otel +{best['handler'] - best['noop']:.0f}); "
          f"load average {os.getloadavg()[0]:.2f}")
    profiler = cProfile.Profile(time.thread_time)   # CPU of this thread: no preemption noise
    profiler.enable()
    _invoke(runnable, handler, args.invokes // 3)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(r"collapse_otel", 25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
