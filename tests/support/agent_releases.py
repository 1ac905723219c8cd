"""One release of an agent service, as a deployed process: real LangGraph agents answer weather
questions through the real capture path (``CollapseCallbackHandler`` into a ``Pipeline``), then
``/metrics`` is served until the process is killed.

    python -m tests.support.agent_releases --port P --answers FILE

``FILE`` is a JSON list of turns, one user question each: ``{"city": ..., "down": bool}``. The
agent is LangGraph's prebuilt ReAct agent over a chat model that asks for the ``weather`` tool
the way a real one does (``AIMessage.tool_calls``). In a turn whose weather service is down the
tool fails and the model asks for the same call again, until LangGraph's recursion limit stops
the turn (``GraphRecursionError``, caught as an app would); otherwise it answers after one call.
Labels and lineage come from ``COLLAPSE_OTEL_*`` env vars, as for
benchmarks/release_process.py, whose ``ReleaseProcess(..., module="tests.support.agent_releases")``
starts this one. It prints
``ready <agent turns>`` once every turn is judged and the gauges are fresh.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import ToolException, tool
from langgraph.errors import GraphRecursionError
from langgraph.prebuilt import create_react_agent

from benchmarks.release_process import serve_until_terminated

RECURSION_LIMIT = 9   # model, tools, model, ... : a looping turn calls the tool 4 times


class ToolCallingFake(GenericFakeChatModel):
    """A scripted chat model that agents can bind tools to (it asks for them itself)."""

    def bind_tools(self, tools, **kwargs):
        return self


def _turn(city: str, down: bool, handler: object) -> None:
    @tool
    def weather(city: str) -> str:
        """Weather of a city."""
        if down:
            raise ToolException("weather service unavailable")
        return f"sunny in {city}"

    weather.handle_tool_error = True   # the agent sees the error and asks again

    def replies() -> Iterator[AIMessage]:
        for n in itertools.count():
            yield AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": city},
                                                     "id": f"call-{n}"}])
            if not down:
                yield AIMessage(content=f"It is sunny in {city} today.")
                return

    with warnings.catch_warnings():   # create_react_agent is deprecated in langgraph 1.x
        warnings.simplefilter("ignore")
        agent = create_react_agent(ToolCallingFake(messages=replies()), [weather])
    try:
        agent.invoke({"messages": [("user", f"What is the weather in {city}?")]},
                     config={"callbacks": [handler], "recursion_limit": RECURSION_LIMIT})
    except GraphRecursionError:
        if not down:
            raise


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="the turns (JSON)")
    args = parser.parse_args(argv)

    from collapse_otel.capture import Pipeline
    from collapse_otel.capture.langchain_handler import CollapseCallbackHandler

    turns = json.loads(args.answers.read_text(encoding="utf-8"))
    pipeline = Pipeline()      # CollapseConfig.resolve(): labels and lineage from the env
    handler = CollapseCallbackHandler(pipeline=pipeline)
    for turn in turns:
        _turn(turn["city"], turn["down"], handler)
    if not pipeline.flush(timeout=300):
        sys.exit("flush timed out")
    stats = pipeline.stats()
    if stats.dropped:   # never lose a turn quietly
        sys.exit(f"dropped: {stats.dropped}")
    (stream,) = pipeline.aggregator.snapshot().streams
    judged = sum(stream.agent_turns_total.values())
    serve_until_terminated(pipeline, args.port, judged)


if __name__ == "__main__":
    main()
