"""A simulated LangChain RAG agent: a real BaseRetriever, a prompt, and a fake chat model.

Everything is real langchain-core except the model's words: ``GenericFakeChatModel`` returns
the AIMessage (with ``usage_metadata``) that the release's composer drafted from the retrieved
documents. So callbacks, run trees, retriever runs and token usage look exactly as they do
for a hosted model, offline and deterministic.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import xxhash
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from pydantic import PrivateAttr

from .answers import COMPOSERS
from .world import City, make_cities, make_documents, make_question

_WORD = re.compile(r"\w+")
SYSTEM = ("You are a travel assistant. Answer from the context documents only, name the places "
          "you mention, and keep it short.")
RELEASES = ("v1", "v2", "v3")
# How often each release's retriever ignores the query and serves its few favourite documents.
_POPULAR_SHARE = {"v1": 0.0, "v2": 0.15, "v3": 0.6}


def _approx_tokens(text: str) -> int:
    return max(1, round(len(_WORD.findall(text)) * 4 / 3))


class GuideRetriever(BaseRetriever):
    """Lexical top-k over the guide; the asked city's name weighs most. ``popular_share`` of
    queries (chosen by a stable hash of the query) get the same few popular documents,
    the retrieval side of collapse."""

    documents: list[Document]
    k: int = 4
    popular_share: float = 0.0
    _index: list[tuple[frozenset[str], str, Document]] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        self._index = [(frozenset(_WORD.findall(d.page_content.lower())),
                        d.metadata["city"].lower(), d) for d in self.documents]

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        q = query.lower()
        if xxhash.xxh3_64_intdigest(q.encode()) / 2**64 < self.popular_share:
            return [d for _, _, d in self._index[: self.k]]
        words = set(_WORD.findall(q))
        scored = sorted(((10 * (city in q) + len(words & toks), i)
                         for i, (toks, city, _) in enumerate(self._index)), reverse=True)
        return [self._index[i][2] for _, i in scored[: self.k]]


class _Script:
    """The fake model's next words: drafted by the chain step before the model runs."""

    def __init__(self) -> None:
        self.pending: deque[AIMessage] = deque()

    def messages(self) -> Iterator[AIMessage]:
        while True:
            yield self.pending.popleft()


class RagAgent:
    """retriever -> draft -> prompt -> chat model, one chain per release."""

    def __init__(self, release: str, cities: Sequence[City], documents: list[Document],
                 seed: int = 0) -> None:
        self.release = release
        self._cities = {c.name: c for c in cities}
        self._compose = COMPOSERS[release]
        self._rng = random.Random(f"{seed}:{release}:answers")
        self._script = _Script()
        self.retriever = GuideRetriever(documents=documents,
                                        popular_share=_POPULAR_SHARE[release])
        prompt = ChatPromptTemplate.from_messages(
            [("system", SYSTEM), ("human", "Context:\n{context}\n\nQuestion: {question}")])
        model = GenericFakeChatModel(messages=self._script.messages())
        self.chain: Runnable = (
            RunnableParallel(docs=self.retriever, question=RunnablePassthrough())
            | RunnableLambda(self._draft, name="draft") | prompt | model)

    def _draft(self, inputs: dict[str, Any]) -> dict[str, str]:
        docs: list[Document] = inputs["docs"]
        question: str = inputs["question"]
        top = docs[0].metadata
        city = self._cities[top["city"]]
        others = [self._cities[n] for n in dict.fromkeys(d.metadata["city"] for d in docs[1:])
                  if n != city.name]
        text = self._compose(city, top["topic"], others, self._rng)
        context = "\n".join(d.page_content for d in docs)
        self._script.pending.append(AIMessage(content=text, usage_metadata={
            "input_tokens": _approx_tokens(SYSTEM + context + question),
            "output_tokens": _approx_tokens(text),
            "total_tokens": _approx_tokens(SYSTEM + context + question) + _approx_tokens(text)}))
        return {"context": context, "question": question}

    def ask(self, question: str, config: RunnableConfig | None = None) -> AIMessage:
        return self.chain.invoke(question, config=config)


class Traffic:
    """Deterministic questions and one agent per release over one shared world."""

    def __init__(self, seed: int = 0, releases: Sequence[str] = RELEASES) -> None:
        self.cities = make_cities(seed + 7)
        self.documents = make_documents(self.cities)
        self.agents = {r: RagAgent(r, self.cities, self.documents, seed) for r in releases}
        self._rng = random.Random(f"{seed}:questions")

    def next_question(self) -> str:
        return make_question(self._rng, self.cities)[0]


def sample_answers(n: int, seed: int = 0) -> dict[str, list[str]]:
    """The first ``n`` answers of each release, exactly as the demo produces them."""
    traffic = Traffic(seed)
    out: dict[str, list[str]] = {r: [] for r in traffic.agents}
    for _ in range(n):
        question = traffic.next_question()
        for release, agent in traffic.agents.items():
            out[release].append(str(agent.ask(question).content))   # the fake model answers text
    return out
