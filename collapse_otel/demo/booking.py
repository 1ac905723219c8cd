"""A simulated booking agent: a tool-calling loop over a real LangChain tool, per release.

The model (``GenericFakeChatModel``) asks for ``book_table`` with the restaurant and the party
size; the tool confirms, or fails when the release's booking backend is down for that turn.
Then the agent asks again with the same arguments, as agents stuck on a failing tool do, until
its step limit stops the turn (``StepLimitError``, caught by the demo as an app would). The
collapsed release v3 talks to a broken backend half the time, so its agents loop; v1 and v2
rarely. Tool-call steps carry no text: these turns add agent loop signals and intermediate
calls, never answers, so the RAG answers' signals stay as they were.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import StructuredTool, ToolException

# share of turns whose booking backend fails for the whole turn
FAILING = {"v1": 0.02, "v2": 0.02, "v3": 0.5}
MAX_STEPS = 6


class StepLimitError(RuntimeError):
    """The agent's step limit stopped a turn (the message says so: capture reads it)."""


class BookingAgent:
    """book a table -> confirmed, or the same call again until the step limit."""

    def __init__(self, release: str, seed: int = 0) -> None:
        self._failing = FAILING[release]
        self._rng = random.Random(f"{seed}:{release}:booking")
        self._down = False
        self._pending: deque[AIMessage] = deque()
        self._model = GenericFakeChatModel(messages=self._messages())
        self._tool = StructuredTool.from_function(
            self._book, name="book_table", description="Book a table at a restaurant.",
            handle_tool_error=True)
        self.agent = RunnableLambda(self._run, name="booking-agent")

    def _messages(self) -> Iterator[AIMessage]:
        while True:
            yield self._pending.popleft()

    def _book(self, restaurant: str, people: int) -> str:
        if self._down:
            raise ToolException("booking service unavailable, try again later")
        return f"booked {restaurant} for {people}"

    def _run(self, request: dict[str, Any], config: RunnableConfig) -> str:
        args = {"restaurant": request["restaurant"], "people": request["people"]}
        self._down = self._rng.random() < self._failing
        for step in range(MAX_STEPS):
            self._pending.append(AIMessage(content="", tool_calls=[
                {"name": "book_table", "args": args, "id": f"call-{step}"}]))
            call = self._model.invoke(f"Book {args}", config=config).tool_calls[0]
            result = self._tool.invoke(call, config=config)
            if isinstance(result, ToolMessage) and result.status != "error":
                return str(result.content)
        raise StepLimitError(f"step limit of {MAX_STEPS} reached")

    def book(self, restaurant: str, people: int, config: RunnableConfig) -> str | None:
        """The confirmation, or None when the turn hit the step limit."""
        try:
            return self.agent.invoke({"restaurant": restaurant, "people": people},
                                     config=config)
        except StepLimitError:
            return None
