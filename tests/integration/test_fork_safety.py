"""fork() while other threads capture: a child's capture path never waits on a lock that a
thread of its parent held (collapse_otel/forksafe.py).

fork() copies the calling thread only, so a lock another thread holds at that instant stays
held in the child. The first test holds, from another thread, every lock a child's capture
path takes (the LangChain handler's, its agent-loop state's, a given aggregator's, the
exporter's registry lock, the multiprocess writer's) across the fork: the hazard made
deterministic. The second forks 30 times while threads run LangGraph agents, observe() and
scrapes, as a pre-forking server's master would: it found the lock of
functools.cached_property (Python < 3.12) held by a window computation. A child that hangs prints every thread's
stack (faulthandler) and exits; the parent kills a child that outlives its deadline and fails.
"""

from __future__ import annotations

import ast
import faulthandler
import itertools
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import ToolException, tool
from prometheus_client import generate_latest

from collapse_otel.capture import observe
from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.export import server as export_server
from collapse_otel.multiprocess import writer as multiprocess_writer
from collapse_otel.worker import pipeline as pipeline_module
from collapse_otel.worker.pipeline import Pipeline

langgraph_prebuilt = pytest.importorskip("langgraph.prebuilt")
from langgraph.errors import GraphRecursionError  # noqa: E402

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
              pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]

PKG = Path(__file__).resolve().parents[1] / "collapse_otel"
CHILD_SECONDS = 60      # a child still running then dumps its stacks and exits 1
PARENT_SECONDS = 120    # a child still running then is killed and the test fails


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


@tool
def weather(city: str) -> str:
    """Weather of a city (its service is down)."""
    raise ToolException("weather service unavailable")


weather.handle_tool_error = True


def looping_agent():
    """A real LangGraph agent whose tool always fails: every turn loops until the recursion
    limit. Built on one thread (pytest.warns is not thread-safe), run by one at a time."""
    calls = (AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Oslo"},
                                                "id": f"call-{n}"}]) for n in itertools.count())
    with pytest.warns(Warning):   # create_react_agent is deprecated in langgraph 1.x
        return langgraph_prebuilt.create_react_agent(ToolCallingFake(messages=calls), [weather])


def looping_turn(agent, handler: CollapseCallbackHandler) -> None:
    with pytest.raises(GraphRecursionError):
        agent.invoke({"messages": [("user", "Weather in Oslo?")]},
                     config={"callbacks": [handler], "recursion_limit": 5})


def _looping(agg: Aggregator) -> int:
    streams = agg.snapshot().streams
    return sum(s.agent_turns_total.get("true", 0) for s in streams)


def capture_in_child(p: Pipeline, agg: Aggregator, handler: CollapseCallbackHandler) -> bool:
    """What a forked worker does: an agent turn through the handler, an answer through
    observe(), flush (the multiprocess state file), a registry for /metrics, a scrape. True
    when the child counted its own turn exactly once."""
    before = _looping(agg)
    looping_turn(looping_agent(), handler)
    pipeline_module.get_pipeline()
    ok = observe("The weather service is down in Oslo, try again later.", pipeline=p)
    ok = ok and p.flush(30)
    text = generate_latest(export_server.collapse_registry(source=p)).decode()
    return ok and "collapse_agent_turns_total" in text and _looping(agg) == before + 1


def _run_child(work: Callable[[], bool]) -> None:
    """In the child: ``work``, then exit (0: it returned True), whatever happens."""
    code = 3
    try:
        faulthandler.dump_traceback_later(CHILD_SECONDS, exit=True)
        code = 0 if work() else 2
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def fork_and_wait(work: Callable[[], bool]) -> int:
    """The exit code of a forked child running ``work``; the test fails if it hangs."""
    pid = os.fork()
    if pid == 0:
        _run_child(work)
    deadline = time.monotonic() + PARENT_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung for {PARENT_SECONDS} s")
        time.sleep(0.05)


def _capture(tmp_path: Path) -> tuple[Pipeline, Aggregator, CollapseCallbackHandler]:
    """A pipeline given its aggregator (kept in a child), writing multiprocess state files."""
    cfg = CollapseConfig.resolve(environ={}, release="fork", multiproc_dir=str(tmp_path))
    agg = Aggregator(cfg)
    p = Pipeline(cfg, aggregator=agg)
    return p, agg, CollapseCallbackHandler(pipeline=p)


def test_locks_held_by_another_thread_at_fork_are_free_in_the_child(tmp_path: Path) -> None:
    p, agg, handler = _capture(tmp_path)
    agent = looping_agent()
    looping_turn(agent, handler)
    assert p.flush(30) and _looping(agg) == 1
    locks = [handler._lock, handler._loops._lock, agg._lock, p._lock, export_server._LOCK,
             multiprocess_writer._LOCK, pipeline_module._default_lock]
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        held.set()
        done.wait(PARENT_SECONDS + 30)
        for lock in reversed(locks):
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        code = fork_and_wait(lambda: capture_in_child(p, agg, handler))
    finally:
        done.set()
        holder.join(30)
    assert code == 0
    looping_turn(agent, handler)   # the parent goes on, its locks released by their holder
    assert p.flush(30) and _looping(agg) == 2


def test_every_lock_is_fork_safe() -> None:
    """Locks come from collapse_otel.forksafe, which unlocks them again in a forked child, and
    so does cached_property (functools' holds a lock before Python 3.12): a threading.Lock,
    RLock or functools.cached_property anywhere else would bring the hang back."""
    banned = {"threading": {"Lock", "RLock"}, "functools": {"cached_property"}}
    found = []
    for path in PKG.rglob("*.py"):
        if path.name == "forksafe.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.attr in banned.get(node.value.id, ()):
                found.append(f"{path.relative_to(PKG)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and \
                    {a.name for a in node.names} & banned.get(node.module or "", set()):
                found.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert found == []
