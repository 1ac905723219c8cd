"""Export: the collapse signals as Prometheus metrics (pull) and OTel/OTLP metrics (push).

Nothing is registered or started at import; every entry point takes the registry or meter
provider to use. Metric names and help texts live in :mod:`.names` (the contract).
"""

from ..text.labels import MAX_LABEL_CHARS, safe_label_value
from .otlp import OtelMetrics, OtlpMetricsExporter, register_otel_metrics, start_otlp_metrics
from .prometheus import CollapseCollector
from .server import (
    PrometheusServer,
    collapse_registry,
    make_asgi_app,
    make_wsgi_app,
    mount_metrics,
    start_prometheus_server,
)

__all__ = [
    "MAX_LABEL_CHARS",
    "CollapseCollector",
    "OtelMetrics",
    "OtlpMetricsExporter",
    "PrometheusServer",
    "collapse_registry",
    "make_asgi_app",
    "make_wsgi_app",
    "mount_metrics",
    "register_otel_metrics",
    "safe_label_value",
    "start_otlp_metrics",
    "start_prometheus_server",
]
