"""The host app that `bench_host` loads: FastAPI + LangChain, served by one uvicorn worker.

``python -m benchmarks.host_app --row chain --mode on --cpu 1 --port-file F`` binds a free
port on 127.0.0.1, writes it to F and serves until terminated, pinned to core ``--cpu``.
Rows: ``chain`` (prompt | chat model | parser), ``cpu5ms`` (the same after 5 ms of the app's
own CPU work), ``agent`` (a LangGraph graph making 3 LLM calls per turn). ``--mode on`` calls
``collapse_otel.instrument()`` first, as a user would (analysis on a worker thread), ``proc``
calls ``instrument(analysis="process")`` (analysis in a child process); ``off`` leaves
collapse-otel out; ``noop`` attaches a do-nothing inline callback handler the way
``instrument()`` attaches collapse-otel's (langchain-core's configure hook): what LangChain's own
callback machinery costs once any handler is attached.
The chat model is a fake that answers 100-word pieces of WikiText-2 (human text), natively
async so that no thread-pool hop is measured that a real async client would not make.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

WORDS = 100
ROWS = ("chain", "cpu5ms", "agent")
APP_CPU_SECONDS = 0.005


def human_answers(n: int = 2000, words: int = WORDS) -> list[str]:
    """``n`` consecutive ``words``-word pieces of WikiText-2 (markup undone)."""
    from collapse_otel.simulation.corpora import load_corpus

    data = Path(__file__).resolve().parents[1] / "tests" / "data"
    tokens = (tok for answer in load_corpus("wikitext", data) for sentence in answer
              for tok in sentence)
    out = []
    while len(out) < n:
        piece = list(itertools.islice(tokens, words))
        if len(piece) < words:
            break
        out.append(" ".join(piece))
    return out


def _model(answers: list[str]) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    cycle = itertools.cycle(answers)

    class WikiChat(BaseChatModel):
        """Answers the next piece of human text, with token usage like a provider's."""

        @property
        def _llm_type(self) -> str:
            return "wiki-fake"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            text = next(cycle)
            usage = {"input_tokens": 40, "output_tokens": 130, "total_tokens": 170}
            return ChatResult(generations=[ChatGeneration(
                message=AIMessage(content=text, usage_metadata=usage))])

        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            return self._generate(messages, stop, **kwargs)

    return WikiChat()


def _chain(model: Any) -> Any:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages([("system", "Answer from the encyclopedia."),
                                               ("human", "{question}")])
    return prompt | model | StrOutputParser()


def _agent(model: Any) -> Any:
    """plan -> research -> answer: three LLM calls per turn over a shared message list."""
    from langchain_core.messages import HumanMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    async def step(state: MessagesState) -> dict:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    for name in ("plan", "research", "answer"):
        graph.add_node(name, step)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "research")
    graph.add_edge("research", "answer")
    graph.add_edge("answer", END)
    compiled = graph.compile()

    class Agent:
        async def ainvoke(self, inputs: dict, config: Any = None) -> str:
            out = await compiled.ainvoke({"messages": [HumanMessage(inputs["question"])]},
                                         config)
            return out["messages"][-1].content

    return Agent()


def _burn(seconds: float) -> None:
    """The app's own work: ``seconds`` of this thread's CPU time (not wall time, so other
    processes on the core do not shorten it)."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(200):
            x += i * i


class _Slot:
    """What langchain-core's configure hook reads (``get()``), process-wide, as instrument()'s."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def get(self, default: Any = None) -> Any:
        return self.handler


def attach_noop() -> Any:
    """A do-nothing handler, inline like collapse-otel's, in every LangChain run."""
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.tracers.context import register_configure_hook

    class Noop(BaseCallbackHandler):
        run_inline = True

        def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
            """Defined: the base class raises NotImplementedError here, which makes LangChain
            retry as on_llm_start with the messages rendered to strings."""

    handler = Noop()
    register_configure_hook(_Slot(handler), True)  # type: ignore[arg-type]
    return handler


MODES = ("off", "noop", "on", "proc")


def build_app(row: str, mode: str) -> Any:
    from fastapi import FastAPI

    pipeline = None
    if mode == "noop":
        attach_noop()
    if mode in ("on", "proc"):
        import collapse_otel

        analysis = "process" if mode == "proc" else "thread"
        pipeline = collapse_otel.instrument(prometheus=False, analysis=analysis).pipeline
    model = _model(human_answers())
    runnable = _agent(model) if row == "agent" else _chain(model)
    burn = APP_CPU_SECONDS if row == "cpu5ms" else 0.0
    app = FastAPI()

    @app.get("/ask")
    async def ask(i: int = 0) -> dict:
        if burn:
            _burn(burn)
        answer = await runnable.ainvoke({"question": f"What does article {i} say?"})
        return {"words": len(answer.split())}

    @app.get("/_bench/flush")
    def flush() -> dict:
        """Wait until every queued record is analysed (so its CPU is charged to the phase)."""
        if pipeline is None:
            return {"flushed": True, "dropped": 0, "records": 0, "intermediate": 0,
                    "analysis_seconds": 0.0, "analysis_pid": None}
        ok = pipeline.flush(120, refresh_gauges=False)
        stats = pipeline.stats()
        return {"flushed": ok, "dropped": sum(stats.dropped.values()),
                "analysis_pid": getattr(pipeline, "analysis_pid", None),
                "records": stats.records_processed,
                "intermediate": sum(stats.intermediate.values()),
                "analysis_seconds": stats.processing_seconds}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--row", choices=ROWS, required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    import uvicorn

    app = build_app(args.row, args.mode)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port_file = Path(args.port_file)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(sock.getsockname()[1]))
    tmp.replace(port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            backlog=1024)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
