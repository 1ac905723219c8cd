"""OTLP/HTTP (POST /v1/traces), /metrics, /healthz and /readyz on the standard library server.

Responses follow the OTLP/HTTP specification: the response body uses the request's content
type; 200 with ``partial_success`` for spans that could not be taken; 400 for a body that is
not an ExportTraceServiceRequest; 413 over the body limit; 415 for another content type or
encoding; 408 for a body not received within the deadline; 429 (queue full) / 503 (starting,
stopping, busy) with Retry-After so clients retry. A body is read whole (body.py) before the
request waits for one of the decode slots, so slow senders hold only their own connection.
The request line and headers have a deadline too (``header_timeout_seconds``, counted from
when the connection starts waiting for a request, keep-alive idle time included): a client
sending a header byte now and then cannot hold a thread and a socket for ever.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client.registry import CollectorRegistry

from ..export.server import render_metrics
from .auth import bearer_ok
from .body import BodyError, BodyReader, ByteBudget, gunzip
from .decode import DecodeError, Overloaded
from .receiver import OK, RETRY, Outcome, Receiver
from .wal import GZIP, KIND_JSON, KIND_PROTOBUF

_log = logging.getLogger(__name__)
PROTOBUF, JSON = "application/x-protobuf", "application/json"
TRACES_PATH = "/v1/traces"
MAX_CONCURRENT_DECODES = 4     # bodies being decoded at once (bounds memory; the GIL bounds CPU)
BUSY_WAIT_SECONDS = 2.0

try:   # google.rpc.Status ships with googleapis-common-protos (an OTLP exporter dependency)
    from google.rpc.status_pb2 import Status as _Status
except ImportError:  # pragma: no cover - then errors are sent as text
    _Status = None


class HttpApp:
    """What every listener shares: the receiver, the registry, the token."""

    def __init__(self, receiver: Receiver, registry: CollectorRegistry,
                 token: str | None) -> None:
        self.receiver = receiver
        self.registry = registry
        self.token = token
        self.max_body = receiver.settings.max_body_bytes
        self.body_timeout = receiver.settings.body_timeout_seconds
        self.header_timeout = receiver.settings.header_timeout_seconds
        self.decodes = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)
        # bytes of bodies being received, as they arrive (slow clients hold what they sent):
        # half the bound, so bodies, their decoding and the queue stay within twice it
        # with room for the allocator's own slack
        self.receiving = ByteBudget(max(1, receiver.settings.max_queued_bytes // 2))
        self._logged: set[str] = set()

    def authorized(self, headers: Any) -> bool:
        return bearer_ok(headers.get_all("Authorization") or [], self.token)

    def log_once(self, kind: str, exc: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            _log.warning("collapse-otel serve: %s (%s); logged once per kind", kind,
                         type(exc).__name__)


class _DeadlineSocketIO(io.RawIOBase):
    """The connection's reads; while ``deadline`` is set, each read waits only for the time
    left until it, so the whole request head shares one deadline (a socket timeout alone is
    per read: a byte every 59 s never trips a 60 s timeout)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request head not received in time")
            self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    app: HttpApp
    serve_otlp: bool
    serve_metrics: bool


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "collapse-otel"
    sys_version = ""                 # no Python version in the Server header
    timeout = 60
    wbufsize = 1 << 16               # headers and body leave in one write (flushed per request)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:   # no access log
        pass

    def setup(self) -> None:
        super().setup()
        self._raw = _DeadlineSocketIO(self.connection)
        self.rfile = io.BufferedReader(self._raw, io.DEFAULT_BUFFER_SIZE)

    def handle_one_request(self) -> None:
        """The request line and headers must arrive within the header deadline; beyond it the
        base class closes the connection (its TimeoutError handling)."""
        self._raw.deadline = time.monotonic() + self.server.app.header_timeout
        try:
            super().handle_one_request()
        finally:
            self._raw.deadline = None

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self._raw.deadline = None              # the head is in: the body has its own deadline
        self.connection.settimeout(self.timeout)
        return ok

    # -- GET ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        app = self.server.app
        if path == "/healthz":
            alive = app.receiver.pipeline.stats() is not None
            self._send(200 if alive else 503, b"ok\n" if alive else b"unhealthy\n", "text/plain")
        elif path == "/readyz":
            reason = app.receiver.not_ready()
            self._send(200 if reason is None else 503, b"ready\n" if reason is None else
                       f"not ready: {reason}\n".encode(), "text/plain")
        elif path == "/metrics" and self.server.serve_metrics:
            if not app.authorized(self.headers):
                self._unauthorized()
                return
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            pairs, body = render_metrics(app.registry, parse_qs(query),
                                         self.headers.get("Accept-Encoding") or "")
            headers = dict(pairs)
            self._send(200, body, headers.pop("Content-Type"), headers)
        else:
            self._send(404, b"not found\n", "text/plain")

    # -- POST ---------------------------------------------------------------------------
    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        app = self.server.app
        # rbufsize is -1 (the default): StreamRequestHandler's rfile is a BufferedReader
        reader = BodyReader(cast(io.BufferedReader, self.rfile), self.connection, self.headers,
                            deadline=app.body_timeout, budget=app.receiving,
                            idle_timeout=self.timeout)
        try:
            if path != TRACES_PATH or not self.server.serve_otlp:
                self._skip(reader)
                self._send(404, b"not found\n", "text/plain")
                return
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            fmt = PROTOBUF if ctype in (PROTOBUF, "application/protobuf") else \
                JSON if ctype == JSON else None
            self._reply_type = ctype if fmt else PROTOBUF   # the response echoes the request's
            code = self._post(app, fmt, reader)
            app.receiver.stats.request("http", str(code))
        finally:
            reader.done()

    def _post(self, app: HttpApp, fmt: str | None, reader: BodyReader) -> int:
        if not app.authorized(self.headers):
            self._skip(reader)
            return self._unauthorized()
        if fmt is None:
            self._skip(reader)
            return self._error(415, "use application/x-protobuf or application/json", PROTOBUF)
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            self._skip(reader)
            return self._error(415, f"unsupported Content-Encoding {encoding!r}", fmt)
        retry_after = app.receiver.settings.retry_after_seconds
        try:
            body = reader.read(app.max_body)      # before a decode slot: slow clients wait alone
        except BodyError as exc:
            self.close_connection = self.close_connection or exc.close
            return self._error(exc.status, exc.message, fmt,
                               retry_after if exc.status == 503 else 0)
        except Exception as exc:   # never let a request take the server down
            app.log_once("reading a request body failed", exc)
            self.close_connection = True
            return self._error(500, "internal error", fmt)
        if not app.decodes.acquire(timeout=BUSY_WAIT_SECONDS):
            return self._error(503, "busy; retry later", fmt, retry_after)
        try:
            return self._decode_and_accept(app, fmt, encoding, body)
        except Exception as exc:   # never let a request take the server down
            app.log_once("request handling failed", exc)
            return self._error(500, "internal error", fmt)
        finally:
            app.decodes.release()

    def _decode_and_accept(self, app: HttpApp, fmt: str, encoding: str,
                           body: bytes | bytearray) -> int:
        logged = ((KIND_PROTOBUF if fmt == PROTOBUF else KIND_JSON) |
                  (GZIP if encoding == "gzip" else 0), body)   # as received, for the log
        extra = 0
        if encoding == "gzip":
            unzipped = gunzip(body, app.max_body)
            if unzipped is None:
                return self._error(413, f"decompressed body over {app.max_body} bytes", fmt)
            if isinstance(unzipped, str):
                return self._error(400, unzipped, fmt)
            body = unzipped
            extra = len(body)       # the decompressed copy, beside the received body
        receiver = app.receiver
        try:
            batch = receiver.decode(body, fmt == JSON, extra)
        except DecodeError as exc:
            return self._error(400, str(exc), fmt)
        except Overloaded as exc:
            if exc.too_large:
                return self._error(413, "the decoded request is larger than max_queued_bytes",
                                   fmt)
            return self._error(429, "collapse-otel serve queue is full; retry later", fmt,
                               receiver.settings.retry_after_seconds)
        return self._reply(receiver.accept(batch, logged), fmt)

    def _skip(self, reader: BodyReader) -> None:
        """Skip an unread body so the connection can be reused, or close it."""
        if not reader.discard():
            self.close_connection = True

    # -- responses ------------------------------------------------------------------------
    def _reply(self, outcome: Outcome, fmt: str) -> int:
        if outcome.status == OK:
            resp = ExportTraceServiceResponse()
            if outcome.rejected or outcome.message:
                resp.partial_success.rejected_spans = outcome.rejected
                resp.partial_success.error_message = outcome.message
            body = resp.SerializeToString() if fmt == PROTOBUF else \
                json_format.MessageToJson(resp, indent=None).encode()
            self._send(200, body, self._reply_type)
            return 200
        code = 429 if outcome.status == RETRY else 503
        return self._error(code, outcome.message, fmt, outcome.retry_after)

    def _error(self, code: int, message: str, fmt: str, retry_after: int = 0) -> int:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        if _Status is None:
            self._send(code, message.encode(), "text/plain", headers)
            return code
        status = _Status(code=_GRPC_CODE.get(code, 2), message=message)
        body = status.SerializeToString() if fmt == PROTOBUF else \
            json_format.MessageToJson(status, indent=None).encode()
        self._send(code, body, getattr(self, "_reply_type", fmt), headers)
        return code

    def _unauthorized(self) -> int:
        self._send(401, b"missing or wrong bearer token\n", "text/plain",
                   {"WWW-Authenticate": 'Bearer realm="collapse-otel"'})
        return 401

    def _send(self, code: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:              # the client went away: nothing to answer
            self.close_connection = True


# google.rpc.Code for the HTTP status (as the OTLP spec maps them).
_GRPC_CODE = {400: 3, 401: 16, 404: 5, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}


def make_server(host: str, port: int, app: HttpApp, *, otlp: bool,
                metrics: bool) -> _Server:
    server_class = _Server
    if ":" in host:
        import socket
        server_class = cast("type[_Server]",
                            type("_Server6", (_Server,), {"address_family": socket.AF_INET6}))
    httpd = server_class((host, port), Handler)
    httpd.app, httpd.serve_otlp, httpd.serve_metrics = app, otlp, metrics
    return httpd
