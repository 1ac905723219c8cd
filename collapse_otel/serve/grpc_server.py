"""OTLP/gRPC TraceService (optional: needs ``grpcio``). The Collector's loadbalancing
exporter speaks OTLP/gRPC, so this is the transport of the scale-out tier.

Codes follow the OTLP specification: INVALID_ARGUMENT for a malformed request, UNAVAILABLE
with RetryInfo when the queue is full or the server is not ready (retryable), UNAUTHENTICATED
without the bearer token, partial_success for spans that could not be taken.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from .auth import bearer_ok
from .decode import DecodeError, Overloaded
from .receiver import OK, Receiver
from .wal import KIND_PROTOBUF

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def available() -> bool:
    try:
        import grpc  # noqa: F401
    except ImportError:
        return False
    return True


def _retry_trailer(seconds: int) -> tuple[tuple[str, bytes], ...]:
    try:
        from google.protobuf.duration_pb2 import Duration
        from google.rpc.error_details_pb2 import RetryInfo
    except ImportError:   # pragma: no cover
        return ()
    info = RetryInfo(retry_delay=Duration(seconds=seconds))
    return (("google.rpc.retryinfo-bin", info.SerializeToString()),)


def start_grpc(receiver: Receiver, host: str, port: int, token: str | None,
               workers: int = 8) -> tuple[Any, int]:
    """Start the gRPC server; returns (server, bound port)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

    stats = receiver.stats

    def export(body: bytes, context: Any) -> bytes:
        response = pb.ExportTraceServiceResponse()
        code = _export(body, context, response)
        stats.request("grpc", code)
        return response.SerializeToString()

    def _export(body: bytes, context: Any, response: Any) -> str:
        if token is not None:
            auth = [v for k, v in context.invocation_metadata() if k == "authorization"]
            if not bearer_ok(auth, token):
                context.set_code(grpc.StatusCode.UNAUTHENTICATED)
                context.set_details("missing or wrong bearer token")
                return "UNAUTHENTICATED"
        try:
            batch = receiver.decode(body)
            outcome = receiver.accept(batch, (KIND_PROTOBUF, body))
        except DecodeError as exc:
            context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            context.set_details(str(exc))
            return "INVALID_ARGUMENT"
        except Overloaded as exc:
            if exc.too_large:   # never fits: not retryable
                context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
                context.set_details("the decoded request is larger than max_queued_bytes")
                return "RESOURCE_EXHAUSTED"
            context.set_trailing_metadata(_retry_trailer(receiver.settings.retry_after_seconds))
            context.set_code(grpc.StatusCode.UNAVAILABLE)
            context.set_details("collapse-otel serve queue is full; retry later")
            return "UNAVAILABLE"
        except Exception:   # never let one request take the server down
            context.set_code(grpc.StatusCode.INTERNAL)
            context.set_details("internal error")
            return "INTERNAL"
        if outcome.status != OK:
            context.set_trailing_metadata(_retry_trailer(outcome.retry_after))
            context.set_code(grpc.StatusCode.UNAVAILABLE)
            context.set_details(outcome.message)
            return "UNAVAILABLE"
        if outcome.rejected or outcome.message:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return "OK"

    # raw bytes in, so a malformed body is answered INVALID_ARGUMENT (as the OTLP spec asks)
    # rather than the INTERNAL grpcio gives when its own deserializer fails
    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Export": grpc.unary_unary_rpc_method_handler(export)})
    limit = receiver.settings.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collapse-grpc"),
        options=[("grpc.max_receive_message_length", limit),
                 ("grpc.max_send_message_length", 4 * 1024 * 1024)],
        maximum_concurrent_rpcs=workers * 4)
    server.add_generic_rpc_handlers((handler,))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    server.start()
    return server, bound
