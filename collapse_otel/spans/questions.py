"""The user's question of a turn, from what capture sees: LangChain run inputs and messages,
and the input attributes of chain and LLM spans (OpenInference, OpenLLMetry, OTel GenAI).

The question only feeds an in-process hash (same-question vs cross-question duplicates): it is
cut to QUESTION_CAPTURE_CHARS here and never exported. A value whose question cannot be told
gives None (unknown), never a guess: a prompt that embeds retrieved documents would make one
question look like many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .build import QUESTION_CAPTURE_CHARS, as_text
from .jsonvalue import json_value

MAX_JSON_CHARS = 1 << 16      # longer JSON inputs are not parsed for a question
MAX_MESSAGES = 64
MAX_DEPTH = 3
QUESTION_KEYS = ("question", "query", "input", "user_input", "user_question", "prompt", "q",
                 "text", "message")
USER_ROLES = frozenset({"user", "human"})


def cut(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:QUESTION_CAPTURE_CHARS] if text else None


def question_of(value: Any, depth: int = 0) -> str | None:
    """The question in a LangChain run's inputs: a string, a dict's question-like key, or the
    last user message of a message list (LangChain messages, role/content dicts, tuples)."""
    if depth > MAX_DEPTH or value is None:
        return None
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, Mapping):
        if "messages" in value:
            return question_of(value.get("messages"), depth + 1)
        if "inputs" in value:   # OpenLLMetry's traceloop.entity.input: {"inputs": ...}
            return question_of(value.get("inputs"), depth + 1)
        for key in QUESTION_KEYS:
            found = value.get(key)
            if found is not None:
                return question_of(found, depth + 1)
        return None
    if isinstance(value, (list, tuple)):
        return cut(last_user_message(value))
    to_messages = getattr(value, "to_messages", None)   # a LangChain PromptValue
    if callable(to_messages):
        try:
            return cut(last_user_message(to_messages()))
        except Exception:
            return None
    if _role(value) in USER_ROLES:
        return cut(_content_text(getattr(value, "content", None)))
    return None


def last_user_message(messages: Sequence[Any]) -> str | None:
    """Text of the last user (human) message of a list; None without one."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        return None
    for message in reversed(messages[-MAX_MESSAGES:]):
        if isinstance(message, (tuple, list)) and len(message) == 2 and \
                isinstance(message[0], str):   # ("user", text), or its JSON form
            role, content = message
        elif isinstance(message, Mapping):
            if isinstance(message.get("kwargs"), Mapping):   # a serialised LangChain message
                message = message["kwargs"]
            role = message.get("role") or message.get("type")
            content = message.get("parts") if "parts" in message else message.get("content")
        else:
            role, content = _role(message), getattr(message, "content", None)
        if isinstance(role, str) and role.lower() in USER_ROLES:
            return _content_text(content)
    return None


def _role(message: Any) -> str | None:
    role = getattr(message, "type", None)   # LangChain BaseMessage: "human", "ai", ...
    return role if isinstance(role, str) else None


def _content_text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content[:MAX_MESSAGES]:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text", part.get("content"))
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts) if texts else None
    return None


def chain_question(value: Any) -> str | None:
    """The question of a turn's top span from its raw input attribute (``input.value``,
    ``traceloop.entity.input`` or ``gen_ai.input.messages``): JSON is parsed, other text is
    the question itself."""
    if isinstance(value, (list, dict)):
        return question_of(value)
    text = as_text(value)
    if text is None:
        return None
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        if len(stripped) > MAX_JSON_CHARS:
            return None
        parsed = json_value(stripped)
        return question_of(parsed) if isinstance(parsed, (list, dict)) else cut(text)
    return cut(text)


def llm_span_question(attributes: Mapping[str, Any]) -> str | None:
    """The last user message on an LLM span (GenAI JSON messages, OpenInference or OpenLLMetry
    indexed messages): the question when the LLM span is a turn of its own."""
    get = attributes.get
    messages = get("gen_ai.input.messages")
    if messages is not None:
        parsed = json_value(messages) if not isinstance(messages, str) or \
            len(messages) <= MAX_JSON_CHARS else None
        return cut(last_user_message(parsed)) if isinstance(parsed, list) else None
    for role_key, content_key in (("llm.input_messages.{}.message.role",
                                   "llm.input_messages.{}.message.content"),
                                  ("gen_ai.prompt.{}.role", "gen_ai.prompt.{}.content")):
        last = None
        for i in range(MAX_MESSAGES):
            role = get(role_key.format(i))
            if role is None:
                break
            if isinstance(role, str) and role.lower() in USER_ROLES:
                last = as_text(get(content_key.format(i)))
        if last is not None:
            return cut(last)
    return None
