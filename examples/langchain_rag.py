"""A LangChain RAG agent watched by collapse-otel: one call to instrument(), no other change.

Runs offline (a fake chat model and an in-memory retriever). Release "2025.05" answers
diversely; release "2025.06" has collapsed onto a few templated answers and one document, and
the signals printed at the end show it.

    python examples/langchain_rag.py             # print the signals per release
    python examples/langchain_rag.py --port 9464  # also serve /metrics and print its lines
"""

from __future__ import annotations

import argparse
import itertools
import urllib.request

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough

import collapse_otel

KB = [Document(id=f"kb-{i}", page_content=text) for i, text in enumerate([
    "The Loire is the longest river in France.", "Mont Blanc is 4,806 metres high.",
    "Lyon sits where the Rhone meets the Saone.", "Brittany has over 2,700 km of coastline.",
    "Bordeaux wine has been traded since Roman times.", "Strasbourg hosts the EU Parliament.",
])]
QUESTIONS = ["rivers", "mountains", "cities", "coast", "wine", "politics", "food", "history"]


class KeywordRetriever(BaseRetriever):
    """Returns two documents per question; a 'collapsed' retriever always returns the same."""

    collapsed: bool = False

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        if self.collapsed:
            return KB[:2]
        start = sum(map(ord, query)) % len(KB)
        return [KB[start], KB[(start + 1) % len(KB)]]


def chat_model(collapsed: bool) -> GenericFakeChatModel:
    diverse = [
        "The Loire runs for about a thousand kilometres before reaching the Atlantic.",
        "Mont Blanc, on the Italian border, is the highest summit of the Alps.",
        "Lyon grew at the confluence of two rivers and became a silk capital.",
        "Brittany's long coastline shaped its fishing and seafaring traditions.",
        "Bordeaux merchants shipped wine to England for centuries.",
        "Strasbourg alternates between French and German influence through its history.",
        "Regional cooking varies from butter in the north to olive oil in the south.",
        "The revolution of 1789 reshaped the country's administrative map.",
    ]
    follow_ups = ["Locals will tell you more.", "Records go back centuries.",
                  "Visitors often miss this.", "Guidebooks rarely mention it.",
                  "It changed how people lived there."]
    diverse = [f"{a} {f}" for f in follow_ups for a in diverse]  # 40 different answers
    templated = ["Great question! France has many interesting features worth exploring.",
                 "Great question! France has many interesting features to explore."]
    answers = templated if collapsed else diverse
    return GenericFakeChatModel(messages=itertools.cycle([
        AIMessage(content=a, usage_metadata={"input_tokens": 60 + i, "output_tokens": len(a) // 4,
                                             "total_tokens": 60 + i + len(a) // 4})
        for i, a in enumerate(answers)]))


def build_chain(collapsed: bool):
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from the context.\n{context}"), ("human", "{question}")])
    context = KeywordRetriever(collapsed=collapsed) | (
        lambda docs: "\n".join(d.page_content for d in docs))
    return ({"context": context, "question": RunnablePassthrough()}
            | prompt | chat_model(collapsed) | StrOutputParser())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=None, help="serve /metrics on this port")
    args = parser.parse_args()
    inst = collapse_otel.instrument(service="rag-demo", prometheus=args.port is not None,
                                    prometheus_port=args.port)
    # existing application code: nothing below knows about collapse-otel
    for release, collapsed in (("2025.05", False), ("2025.06", True)):
        chain = build_chain(collapsed)
        for question in QUESTIONS * 5:
            chain.invoke(question, config={"metadata": {"release": release}})
    collapse_otel.flush()

    snapshot = collapse_otel.get_pipeline().aggregator.snapshot()
    for s in sorted(snapshot.streams, key=lambda s: s.key.release):
        w = s.window
        print(f"release={s.key.release} answers={s.answers_total} "
              f"exact_duplicates={s.duplicate_answers_total.get('exact', 0)} "
              f"distinct_2={w.get('distinct_2') or 0:.3f} "
              f"context_distinct_ratio={w.get('context_distinct_ratio'):.3f} "
              f"completion_tokens={s.tokens_total['completion']}")
    server = inst.metrics_server
    if server is not None:
        body = urllib.request.urlopen(server.url, timeout=10).read().decode()
        print("\n".join(line for line in body.splitlines()
                        if line.startswith("collapse_answers_total")))
    collapse_otel.uninstrument()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
