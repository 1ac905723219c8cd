"""Document ids of a retriever span, convention by convention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .build import MAX_ID_CHARS, as_label, document_id
from .jsonvalue import json_value as _json

MAX_DOCS = 100


def retrieval_ids(a: Mapping[str, Any]) -> tuple[str, ...]:
    """Document ids of a retrieval, in the order the design lists the conventions."""
    docs = _json(a.get("gen_ai.retrieval.documents"))
    if isinstance(docs, list):
        listed = [document_id(d.get("id"), d.get("metadata"), d.get("content"))
                  if isinstance(d, Mapping) else as_label(d, MAX_ID_CHARS)
                  for d in docs[:MAX_DOCS]]
        return tuple(i for i in listed if i)
    ids = _indexed_doc_ids(a)
    if ids:
        return ids
    for key in ("traceloop.entity.output", "gen_ai.task.output"):
        data = _json(a.get(key))
        if isinstance(data, Mapping) and isinstance(data.get("documents"), list):
            return _json_doc_ids(data["documents"])
    return ()


def _indexed_doc_ids(a: Mapping[str, Any]) -> tuple[str, ...]:
    """OpenInference ``retrieval.documents.{i}.document.*``; ids missing there are looked up
    in ``output.value`` (LangChain retriever output serialised with ``documents[].id``)."""
    out: list[str] = []
    fallback: list[Any] | None = None
    for i in range(MAX_DOCS):
        base = f"retrieval.documents.{i}.document"
        doc_id, content, meta = (a.get(f"{base}.id"), a.get(f"{base}.content"),
                                 a.get(f"{base}.metadata"))
        if doc_id is None and content is None and meta is None:
            break
        if as_label(doc_id) is None:
            if fallback is None:
                data = _json(a.get("output.value"))
                docs = data.get("documents") if isinstance(data, Mapping) else None
                fallback = docs if isinstance(docs, list) else []
            if i < len(fallback) and isinstance(fallback[i], Mapping):
                doc_id = fallback[i].get("id")
        metadata = _json(meta) if isinstance(meta, str) else meta
        ident = document_id(doc_id, metadata, content)
        if ident:
            out.append(ident)
    return tuple(out)


def _json_doc_ids(docs: list[Any]) -> tuple[str, ...]:
    out = []
    for d in docs[:MAX_DOCS]:
        if isinstance(d, Mapping):
            inner = d.get("kwargs")
            kwargs = inner if isinstance(inner, Mapping) else d
            ident = document_id(kwargs.get("id"), kwargs.get("metadata"),
                                kwargs.get("page_content", kwargs.get("content")))
            if ident:
                out.append(ident)
    return tuple(out)


