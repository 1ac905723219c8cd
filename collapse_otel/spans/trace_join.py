"""Which retrieved documents informed which LLM answer, from the span tree of one trace.

Pure function shared by the span processor and the OTLP receiver. A retrieval's ids go to the
LLM spans that ended after it and are nearest to it in the tree (fewest parent/child hops
through their lowest common ancestor); ties all get the ids. In a RAG chain that is the one
LLM call of the chain; in an agent graph, every LLM call after the retrieval node. Nearest, not
"same trace": a request span wrapping two independent chains, or an instrumentation that leaks
its context from one batch item into the next, must not mix their documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_DEPTH = 64


def ancestors(span_id: int, parents: Mapping[int, int | None]) -> list[int]:
    """``[span_id, parent, grandparent, ...]`` as far as the known links go."""
    path = [span_id]
    node = parents.get(span_id)
    while node is not None and len(path) < MAX_DEPTH:
        path.append(node)
        node = parents.get(node)
    return path


def join_context_ids(llms: Sequence[tuple[int, int]],
                     retrievals: Sequence[tuple[int, int, Sequence[str]]],
                     parents: Mapping[int, int | None]) -> list[list[str]]:
    """Context ids per LLM span. ``llms``: (span_id, end_time); ``retrievals``: (span_id,
    end_time, ids); ``parents``: span_id -> parent span_id (None or absent at the local root)."""
    result: list[list[str]] = [[] for _ in llms]
    if not llms or not retrievals:
        return result
    llm_paths = [ancestors(sid, parents) for sid, _ in llms]
    for r_sid, r_end, ids in retrievals:
        r_index = {node: i for i, node in enumerate(ancestors(r_sid, parents))}
        best: int | None = None
        winners: list[int] = []
        for k, (_, l_end) in enumerate(llms):
            if l_end < r_end:
                continue  # the answer was complete before these documents arrived
            for j, node in enumerate(llm_paths[k]):
                i = r_index.get(node)
                if i is not None:
                    hops = i + j
                    if best is None or hops < best:
                        best, winners = hops, [k]
                    elif hops == best:
                        winners.append(k)
                    break
        for k in winners:
            result[k].extend(ids)
    return result
