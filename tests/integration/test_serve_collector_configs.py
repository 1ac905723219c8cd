"""The Collector configs in exporters/otel-collector/, checked structurally.

The OpenTelemetry Collector is not installed here, so these tests check what can be checked
without it: valid YAML, every pipeline component defined and every defined one used, the
collapse exporters pointing at serve's ports with the token from the environment, routing by
the attribute serve reads the release from. The Prometheus scrape job is checked with the
real promtool.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from collapse_otel.serve.settings import ServeSettings
from collapse_otel.spans.conventions import resource_release
from tests.support.requires import require_binary

DIR = Path(__file__).resolve().parents[2] / "exporters" / "otel-collector"
CONFIGS = ("agents-to-collapse.yaml", "loadbalancing-by-release.yaml")


def load(name: str) -> dict:
    return yaml.safe_load((DIR / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_pipelines_reference_defined_components_and_use_all(name):
    cfg = load(name)
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pipeline_name, pipeline in cfg["service"]["pipelines"].items():
        assert pipeline_name.split("/")[0] in ("traces", "metrics", "logs")
        for kind in used:
            for component in pipeline.get(kind, []):
                assert component in (cfg.get(kind) or {}), f"{component} not defined"
                used[kind].add(component)
        assert pipeline["processors"][0] == "memory_limiter"   # the Collector's own advice
    for kind, names in used.items():
        assert set(cfg.get(kind) or {}) == names, f"unused {kind}"


@pytest.mark.parametrize("name", CONFIGS)
def test_spans_go_to_the_tracing_backend_and_to_collapse(name):
    exporters = load(name)["service"]["pipelines"]["traces"]["exporters"]
    assert "otlp/tracing" in exporters
    assert any("collapse" in e for e in exporters)


def test_agents_config_sends_otlp_http_to_serve_with_the_token_from_env():
    exp = load("agents-to-collapse.yaml")["exporters"]["otlphttp/collapse"]
    assert exp["endpoint"].endswith(f":{ServeSettings().otlp_http_port}}}")
    assert exp["headers"]["Authorization"] == "Bearer ${env:COLLAPSE_OTEL_SERVE_TOKEN}"
    assert exp["retry_on_failure"]["enabled"] is True     # serve's 429/503 are retried


def test_loadbalancing_routes_by_the_release_serve_reads():
    exp = load("loadbalancing-by-release.yaml")["exporters"]["loadbalancing/collapse"]
    assert exp["routing_key"] == "attributes"
    (attribute,) = exp["routing_attributes"]
    assert resource_release({attribute: "v9", "langfuse.release": "other"}) == "v9"
    otlp = exp["protocol"]["otlp"]
    assert "endpoint" not in otlp            # the resolver provides each backend's endpoint
    assert otlp["headers"]["authorization"] == "Bearer ${env:COLLAPSE_OTEL_SERVE_TOKEN}"
    resolvers = exp["resolver"]
    assert len(resolvers) == 1
    port = str(ServeSettings().otlp_grpc_port)
    assert all(h.rsplit(":", 1)[1] == port for h in resolvers["static"]["hostnames"])
    assert exp["retry_on_failure"]["enabled"] is True


def test_no_secret_is_written_into_a_config():
    for name in CONFIGS:
        for line in (DIR / name).read_text().lower().splitlines():
            if "bearer " in line and not line.lstrip().startswith("#"):
                assert "${env:" in line, (name, line)
    scrape = yaml.safe_load((DIR / "prometheus-scrape.yaml").read_text())
    auth = scrape["scrape_configs"][0]["authorization"]
    assert "credentials" not in auth and auth["credentials_file"]


def test_prometheus_scrape_job_passes_promtool(tmp_path):
    promtool = require_binary("promtool")
    token = tmp_path / "token"
    token.write_text("t0ken")
    text = (DIR / "prometheus-scrape.yaml").read_text().replace(
        "/etc/prometheus/collapse-otel-token", str(token))
    (tmp_path / "prometheus.yml").write_text(text)
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
