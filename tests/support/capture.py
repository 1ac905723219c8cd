"""Shared pieces for the capture tests (real LangChain runnables, a real Aggregator)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.worker.pipeline import Pipeline

ANSWERS = [
    "Paris is the capital of France and its largest city.",
    "The Loire is the longest river in France.",
    "Mont Blanc is the highest mountain in the Alps.",
]
USAGE = [(17, 11), (19, 9), (23, 10)]


class RecordingAggregator(Aggregator):
    """The real Aggregator, also keeping the records it was given (for exact assertions)."""

    def __init__(self, config: CollapseConfig | None = None, **kw) -> None:
        super().__init__(config, **kw)
        self.records: list[AnswerRecord] = []

    def observe_batch(self, records: Sequence[AnswerRecord]):
        self.records.extend(records)
        return super().observe_batch(records)


def make_pipeline(**config) -> tuple[Pipeline, RecordingAggregator]:
    cfg = CollapseConfig.resolve(environ={}, **config)
    agg = RecordingAggregator(cfg)
    return Pipeline(cfg, aggregator=agg), agg


def usage_model() -> GenericFakeChatModel:
    """A chat model that reports token usage, cycling through ANSWERS."""
    return GenericFakeChatModel(messages=itertools.cycle([
        AIMessage(content=a, usage_metadata={"input_tokens": p, "output_tokens": c,
                                             "total_tokens": p + c})
        for a, (p, c) in zip(ANSWERS, USAGE, strict=True)]))


class DocRetriever(BaseRetriever):
    """A real retriever: the first document has an id, the second a metadata id, the third
    neither (content hash); ``with_metadata_ids`` mirrors Document.id into metadata['id']."""

    with_metadata_ids: bool = False

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        docs = [Document(page_content=f"{query}: about rivers", id="doc-rivers"),
                Document(page_content=f"{query}: about mountains", id="doc-mountains",
                         metadata={"doc_id": "meta-mountains"}),
                Document(page_content="a page with no id at all", metadata={"lang": "en"})]
        if self.with_metadata_ids:
            for d in docs[:2]:
                d.metadata = {**d.metadata, "id": d.id}
            docs[1].metadata.pop("doc_id", None)
        return docs


PROMPT = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"),
                                           ("human", "{question}")])


def simple_chain(model=None):
    return PROMPT | (model or usage_model()) | StrOutputParser()


def format_docs(docs) -> str:
    return "\n".join(d.page_content for d in docs)


def rag_chain(model=None, retriever: BaseRetriever | None = None):
    retriever = retriever or DocRetriever()
    return ({"context": retriever | format_docs, "question": RunnablePassthrough()}
            | PROMPT | (model or usage_model()) | StrOutputParser())


class VaryingRetriever(DocRetriever):
    """New documents on every call but one shared one (the page with no id), so the context
    distinct ratio means something: 50 retrievals give 101 distinct ids of 150."""

    calls: int = 0

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        docs = super()._get_relevant_documents(query, run_manager=run_manager)
        self.calls += 1
        for i, d in enumerate(docs[:2]):
            d.id = f"doc-{self.calls}-{i}"
            if self.with_metadata_ids:
                d.metadata = {**d.metadata, "id": d.id}
        return docs


REWRITES = ["rivers of France", "mountains of the Alps", "capital city of France"]
REWRITE_PROMPT = ChatPromptTemplate.from_template("Rewrite as a search query: {question}")


def rewrite_model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([
        AIMessage(content=r, usage_metadata={"input_tokens": 7, "output_tokens": 4,
                                             "total_tokens": 11}) for r in REWRITES]))


def rewriter_rag_chain(model=None, retriever: BaseRetriever | None = None):
    """A RAG chain whose first LLM call rewrites the question (named ``query_rewriter``)."""
    retriever = retriever or DocRetriever()
    rewrite = (REWRITE_PROMPT | rewrite_model() | StrOutputParser()).with_config(
        run_name="query_rewriter")
    return ({"question": RunnablePassthrough()} | rewrite
            | {"context": retriever | format_docs, "question": RunnablePassthrough()}
            | PROMPT | (model or usage_model()) | StrOutputParser())


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


def tool_agent(retriever: BaseRetriever | None = None):
    """A LangGraph ReAct agent: per question one tool-call step (no text) that calls a
    document-search tool, then the answer."""
    import warnings

    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    retriever = retriever or DocRetriever()

    @tool
    def search(query: str) -> str:
        """Search the documents."""
        return format_docs(retriever.invoke(query))

    steps = []
    for i, answer in enumerate(ANSWERS):
        steps.append(AIMessage(content="", tool_calls=[
            {"name": "search", "args": {"query": f"q{i}"}, "id": f"call-{i}"}],
            usage_metadata={"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}))
        steps.append(AIMessage(content=answer, usage_metadata={
            "input_tokens": 31, "output_tokens": 6, "total_tokens": 37}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(ToolCallingFake(messages=itertools.cycle(steps)), [search])


def judged_chain():
    """Answer, then a judge LLM call; the chain returns the answer, not the verdict."""
    judge = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="PASS")]))
    judge_chain = (ChatPromptTemplate.from_template("Is this fine? {answer}") | judge
                   | StrOutputParser()).with_config(tags=["judge"])
    answer = ChatPromptTemplate.from_template("{question}") | usage_model() | StrOutputParser()
    return ({"question": RunnablePassthrough()} | RunnablePassthrough.assign(answer=answer)
            | RunnablePassthrough.assign(verdict=judge_chain)
            | RunnableLambda(lambda d: d["answer"]))


QUESTIONS = [f"question {i}?" for i in range(20)]


def run_all(runnable, handler, agent=False, **config):
    """Ask every question, each in a copy of the context (see test_capture_instrumentors)."""
    import contextvars

    cfg = {"callbacks": [handler], **config}
    for q in QUESTIONS:
        contextvars.copy_context().run(
            runnable.invoke, {"messages": [("user", q)]} if agent else q, config=cfg)


def stream_of(agg):
    (stream,) = agg.snapshot().streams
    return stream


def intermediate(p) -> int:
    return sum(p.stats().intermediate.values())
