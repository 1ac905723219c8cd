"""An app that already has OpenTelemetry tracing: add one CollapseSpanProcessor.

The app traces its LangChain RAG chain with OpenInference (as many do for Phoenix/Arize), on
its own SDK TracerProvider whose resource says service.version=3.2.0. collapse-otel reads the
finished GenAI spans: answers, tokens, model, and the retrieved document ids of the same trace;
the release label comes from service.version. Runs offline. Without
openinference-instrumentation-langchain installed (or with --hand-made), it emits the GenAI
spans by hand, as an app on the OTel GenAI semantic conventions would, and reads those.
"""

from __future__ import annotations

import itertools
import json
import sys
import warnings

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import collapse_otel

ANSWERS = ["Use the blue cable for the uplink.", "Restart the router after the update.",
           "Port 3 is reserved for the printer.", "The VPN needs the new certificate."]


class Manual(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        return [Document(id=f"manual-p{len(query)}", page_content=f"page about {query}"),
                Document(id="manual-index", page_content="index")]


def langchain_app(provider: TracerProvider) -> str:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument(tracer_provider=provider)
    model = GenericFakeChatModel(messages=itertools.cycle([
        AIMessage(content=a, usage_metadata={"input_tokens": 40, "output_tokens": 9,
                                             "total_tokens": 49}) for a in ANSWERS]))
    prompt = ChatPromptTemplate.from_messages([("system", "{context}"), ("human", "{question}")])
    chain = ({"context": Manual() | (lambda ds: "\n".join(d.page_content for d in ds)),
              "question": RunnablePassthrough()} | prompt | model | StrOutputParser())
    for q in ["uplink", "update", "printer", "vpn", "wifi", "dns"]:
        chain.invoke(q)
    LangChainInstrumentor().uninstrument()
    return "openinference"


def hand_made_spans(provider: TracerProvider) -> str:
    tracer = provider.get_tracer("my-app")
    for i, q in enumerate(["uplink", "update", "printer", "vpn", "wifi", "dns"]):
        with tracer.start_as_current_span("handle_request"):
            with tracer.start_as_current_span("retrieval manual", attributes={
                    "gen_ai.operation.name": "retrieval",
                    "gen_ai.retrieval.documents": json.dumps(
                        [{"id": f"manual-p{len(q)}"}, {"id": "manual-index"}])}):
                pass
            with tracer.start_as_current_span("chat my-model", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "my-model",
                    "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 9,
                    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                        {"type": "text", "content": ANSWERS[i % len(ANSWERS)]}]}])}):
                pass
    return "hand-made GenAI spans"


def main() -> int:
    warnings.filterwarnings("ignore", message=r"Calling \.text\(\) as a method")
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "helpdesk", "service.version": "3.2.0"}))
    provider.add_span_processor(collapse_otel.CollapseSpanProcessor())   # <- the one line
    try:
        if "--hand-made" in sys.argv:
            raise ImportError("asked for hand-made spans")
        source = langchain_app(provider)
    except ImportError:
        source = hand_made_spans(provider)
    provider.force_flush()
    collapse_otel.flush()
    for s in collapse_otel.get_pipeline().aggregator.snapshot().streams:
        print(f"source={source} service={s.key.service} release={s.key.release} "
              f"answers={s.answers_total} prompt_tokens={s.tokens_total['prompt']} "
              f"completion_tokens={s.tokens_total['completion']} "
              f"exact_duplicates={s.duplicate_answers_total.get('exact', 0)} "
              f"context_distinct_ratio={s.window.get('context_distinct_ratio'):.3f}")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
