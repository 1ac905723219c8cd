"""``collapse-otel demo``: a simulated LangChain RAG agent with three releases (v1 healthy,
v2 templated, v3 collapsed), exported live on 127.0.0.1 and summarised in a table."""

from .runner import run_demo

__all__ = ["run_demo"]
