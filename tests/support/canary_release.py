"""A healthy canary in its own process, next to ``collapse-otel demo``: release v4 of the
demo's service answers like v1 (the healthy composer, fresh draws of the same world's
questions and answers) and names v3 as its previous release and v1 as its baseline through
configuration, as a deploy pipeline would. The rollout gates must let it through.

``python -m tests.support.canary_release --port P [--release v4] [--rate 25] [--follow URL]`` serves
/metrics and sends traffic until SIGTERM. With ``--follow`` (the demo's /metrics) it answers no
faster than the demo's baseline release: under load the demo falls behind its pace, and a
canary window several times the baseline's would compare corpus statistics of samples of
different sizes.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
import urllib.request

from collapse_otel.capture import CollapseCallbackHandler, Pipeline
from collapse_otel.config import CollapseConfig
from collapse_otel.demo.agent import RagAgent
from collapse_otel.demo.booking import BookingAgent
from collapse_otel.demo.feedback import THRESHOLDS, Raters
from collapse_otel.demo.runner import BASELINE, BOOKING_EVERY, SERVICE
from collapse_otel.demo.world import make_cities, make_documents, make_question
from collapse_otel.export.server import start_prometheus_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.canary_release")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--release", default="v4")
    parser.add_argument("--previous", default="v3")
    parser.add_argument("--rate", type=float, default=25.0, help="answers per second")
    parser.add_argument("--seed", type=int, default=1, help="draws differ from the demo's (0)")
    parser.add_argument("--follow", help="the demo's /metrics URL: keep no more answers than "
                                         "its baseline release")
    args = parser.parse_args(argv)
    config = CollapseConfig.resolve(service=SERVICE, release=args.release, refresh_seconds=1.0,
                                    previous_release=args.previous, baseline_release=BASELINE,
                                    evaluation_thresholds=THRESHOLDS)
    raters = Raters(args.seed)
    pipeline = Pipeline(config)
    handler = CollapseCallbackHandler(pipeline=pipeline, service=SERVICE, emit_spans=False)
    cities = make_cities(7)  # the demo's world (Traffic(seed=0))
    agent = RagAgent("v1", cities, make_documents(cities), seed=args.seed)
    booking = BookingAgent("v1", seed=args.seed)
    questions = random.Random(f"{args.seed}:canary-questions")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = start_prometheus_server(args.port, "127.0.0.1", source=pipeline)
    sys.stderr.write(f"metrics: {server.url}\n")
    sys.stderr.flush()
    start = time.monotonic()
    followed = 0.0
    try:
        for i in range(1, 10**9):
            question = make_question(questions, cities)[0]
            run_id = raters.run_id()
            agent.ask(question, config={"callbacks": [handler], "run_name": "rag-agent",
                                        "metadata": {"release": args.release},
                                        "run_id": run_id})
            raters.rate("v1", run_id, pipeline)   # rated like the healthy v1
            if i % BOOKING_EVERY == 0:   # books tables like v1: its agent turns are judged
                booking.book(f"table {i % 40}", 2 + i % 5, config={
                    "callbacks": [handler], "metadata": {"release": args.release}})
            if stop.wait(max(0.0, start + i / args.rate - time.monotonic())):
                break
            while args.follow and i >= followed and not stop.wait(0.5):
                followed = _answered(args.follow)   # read only when the canary caught up
    finally:
        server.close()
        pipeline.shutdown(timeout=5)
    return 0


def _answered(url: str) -> float:
    """Answers the demo's baseline release has counted (inf when /metrics cannot be read:
    the canary then keeps its own pace)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return float("inf")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("collapse_answers_total{")
               and f'release="{BASELINE}"' in line)


if __name__ == "__main__":
    raise SystemExit(main())
