"""What the instrumentor needs installed, as OpenTelemetry instrumentation packages declare it.

Nothing: collapse-otel reads spans any instrumentation emits and takes ``observe()`` calls
without a framework; LangChain is optional (the ``langchain`` extra), so it is not a
dependency ``opentelemetry-instrument`` should refuse to load the instrumentor without.
"""

from __future__ import annotations

INSTRUMENTS: tuple[str, ...] = ()
_supports: tuple[str, ...] = ("langchain-core >= 0.3",)   # hooked when installed
