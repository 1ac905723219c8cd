"""Zero code: this LangChain app never imports collapse-otel. Run it under
``opentelemetry-instrument``, which loads CollapseInstrumentor from its entry point:

    OTEL_SERVICE_NAME=faq-bot COLLAPSE_OTEL_RELEASE=1.4.2 COLLAPSE_OTEL_METRICS_PORT=9464 \\
        opentelemetry-instrument python examples/zero_code_app.py

At the end the app reads its own /metrics (as Prometheus would) and prints the collapse lines.
"""

from __future__ import annotations

import itertools
import os
import time
import urllib.request

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate


def main() -> int:
    model = GenericFakeChatModel(messages=itertools.cycle([
        AIMessage(content="Opening hours are nine to five on weekdays.",
                  usage_metadata={"input_tokens": 14, "output_tokens": 10, "total_tokens": 24}),
        AIMessage(content="Parking is free after six in the evening.",
                  usage_metadata={"input_tokens": 15, "output_tokens": 9, "total_tokens": 24}),
    ]))
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model | StrOutputParser()
    for i in range(20):
        chain.invoke({"q": f"question {i}"})

    url = f"http://127.0.0.1:{os.environ.get('COLLAPSE_OTEL_METRICS_PORT', '9464')}/metrics"
    deadline = time.monotonic() + 10
    while True:  # the worker analyses in the background; wait until it has caught up
        try:
            body = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            body = ""
        lines = [ln for ln in body.splitlines()
                 if ln.startswith(("collapse_answers_total", "collapse_llm_tokens_total"))]
        if any(ln.startswith("collapse_answers_total") and ln.endswith(" 20.0") for ln in lines) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print("\n".join(lines) if lines else f"no collapse metrics at {url} "
          "(run under opentelemetry-instrument)")
    return 0 if lines else 1


if __name__ == "__main__":
    raise SystemExit(main())
