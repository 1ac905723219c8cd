"""The app the workers of tests/integration/test_multiprocess_workers.py run: each request to
``/answer?i=N`` observes answer N (tests/support/multiproc_answers.py) and returns the worker's pid.
A plain WSGI callable for gunicorn and a plain ASGI callable for uvicorn; collapse-otel is
turned on at import, in each worker, with multiprocess mode from the environment."""

from __future__ import annotations

import os
from urllib.parse import parse_qs

from multiproc_answers import answers, request

import collapse_otel

ANSWERS = answers()
collapse_otel.instrument(langchain=False)   # /metrics: whichever worker binds the port


def _handle(path: str, query: str) -> tuple[str, bytes]:
    if path == "/answer":
        i = int(parse_qs(query)["i"][0])
        collapse_otel.observe(ANSWERS[i], **request(i))
    return "200 OK", str(os.getpid()).encode()


def wsgi_app(environ, start_response):
    status, body = _handle(environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", ""))
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    _, body = _handle(scope["path"], scope.get("query_string", b"").decode())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
