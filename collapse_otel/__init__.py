"""collapse-otel: model-collapse signals for LLM agent services. Public API only; no side effects."""

from .config import CollapseConfig
from .records import AnswerRecord, StreamKey

__all__ = ["AnswerRecord", "CollapseConfig", "StreamKey"]
__version__ = "0.1.0"
