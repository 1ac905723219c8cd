"""The canary gates (exporters/rollouts): their structure against the documented schemas, and
their queries, templated as Argo Rollouts and Flagger template them, run against the
end-to-end Prometheus (tests/support/ops_stack.py): the collapsed demo release fails the gate, the
healthy canary passes it, a release with nothing to compare with is not judged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from collapse_otel.mixin import MixinConfig
from collapse_otel.mixin.rollouts import ARGO_PATH, FLAGGER_PATH
from tests.support.ops_stack import CANARY, ROOT, Stack

ARGO = ROOT / ARGO_PATH
FLAGGER = ROOT / FLAGGER_PATH

# Fields as the projects define them: Argo Rollouts pkg/apis/rollouts/v1alpha1
# (AnalysisTemplateSpec, Argument, Metric, PrometheusMetric), Flagger
# pkg/apis/flagger/v1beta1 (MetricTemplateSpec, MetricTemplateProvider), and the Canary's
# analysis.metrics entries (docs.flagger.app/usage/metrics).
ARGO_SPEC = {"args", "metrics", "dryRun", "measurementRetention"}
ARGO_ARG = {"name", "value", "valueFrom"}
ARGO_METRIC = {"name", "interval", "initialDelay", "count", "successCondition",
               "failureCondition", "failureLimit", "inconclusiveLimit",
               "consecutiveErrorLimit", "consecutiveSuccessLimit", "provider"}
ARGO_PROMETHEUS = {"address", "query", "authentication", "timeout", "insecure", "headers",
                   "rangeQuery"}
FLAGGER_SPEC = {"provider", "query"}
FLAGGER_PROVIDER = {"type", "address", "headers", "secretRef", "region", "insecureSkipVerify"}
FLAGGER_CANARY_METRIC = {"name", "templateRef", "thresholdRange", "interval",
                         "templateVariables", "threshold", "query"}
DURATION = re.compile(r"([0-9]+(ms|s|m|h))+")


def _load(path: Path) -> dict:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(docs) == 1, path
    return docs[0]


def _example(path: Path) -> dict:
    """The example manifest in the file's leading comments (from its apiVersion line)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# apiVersion:"):
            lines = []
        lines.append(line[2:])
    return yaml.safe_load("\n".join(lines))


def test_argo_analysis_template_has_the_documented_structure() -> None:
    doc = _load(ARGO)
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "AnalysisTemplate"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"} and doc["metadata"]["name"]
    spec = doc["spec"]
    assert set(spec) <= ARGO_SPEC and spec["metrics"]
    args = {a["name"]: a for a in spec["args"]}
    assert all(set(a) <= ARGO_ARG for a in spec["args"])
    assert set(args) == {"service", "release", "cohort"} and args["cohort"]["value"] == ".*"
    (metric,) = spec["metrics"]
    assert set(metric) <= ARGO_METRIC and {"name", "provider"} <= set(metric)
    assert DURATION.fullmatch(metric["interval"]) and metric["count"] >= 2
    assert metric["failureLimit"] == 0 and 0 < metric["inconclusiveLimit"] < metric["count"]
    prometheus = metric["provider"]["prometheus"]
    assert set(metric["provider"]) == {"prometheus"} and set(prometheus) <= ARGO_PROMETHEUS
    assert prometheus["address"].startswith("http") and prometheus["query"]
    used = set(re.findall(r"\{\{args\.([\w-]+)\}\}", prometheus["query"]))
    assert used == set(args)
    rollout = _example(ARGO)
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1" and rollout["kind"] == "Rollout"
    step = next(s["analysis"] for s in rollout["spec"]["strategy"]["canary"]["steps"]
                if "analysis" in s)
    assert step["templates"] == [{"templateName": doc["metadata"]["name"]}]
    given = {a["name"] for a in step["args"]}
    assert given | {n for n, a in args.items() if "value" in a} == set(args)


def test_flagger_metric_template_has_the_documented_structure() -> None:
    doc = _load(FLAGGER)
    assert doc["apiVersion"] == "flagger.app/v1beta1" and doc["kind"] == "MetricTemplate"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(doc["spec"]) == FLAGGER_SPEC
    provider = doc["spec"]["provider"]
    assert set(provider) <= FLAGGER_PROVIDER and provider["type"] == "prometheus"
    assert provider["address"].startswith("http")
    canary = _example(FLAGGER)
    assert canary["apiVersion"] == "flagger.app/v1beta1" and canary["kind"] == "Canary"
    (metric,) = canary["spec"]["analysis"]["metrics"]
    assert set(metric) <= FLAGGER_CANARY_METRIC
    assert metric["templateRef"]["name"] == doc["metadata"]["name"]
    assert metric["thresholdRange"] == {"max": 0}   # 1: collapse suspected
    used = set(re.findall(r"\{\{ variables\.(\w+) \}\}", doc["spec"]["query"]))
    assert used == set(metric["templateVariables"]) == {"service", "release", "cohort"}


def test_gate_queries_read_only_recording_rules_of_ours() -> None:
    """Both gates query the verdict rules (names checked against the generated rules), the
    same PromQL once their templating is resolved, and the series the alert reads."""
    from collapse_otel.mixin.alerts import alert_rules
    from collapse_otel.mixin.rules import recording_rules
    from collapse_otel.mixin.verdict import REFERENCES, suspected
    from tests.support.promql import metric_names

    argo, _ = _argo_query("v5")
    flagger = _flagger_query("v5", {"cohort": ".*"})
    assert argo == flagger
    records = {r["record"] for r in recording_rules(MixinConfig())}
    used = metric_names(argo)
    assert used and used <= records, used - records
    alerts = " ".join(r["expr"] for r in alert_rules(MixinConfig())
                      if r["alert"] == "CollapseReleaseRegression")
    assert used == {suspected(ref) for ref in REFERENCES} and all(u in alerts for u in used)


def _flagger_query(release: str, variables: dict[str, str]) -> str:
    """The query as Flagger renders it (Go template, missingkey=error)."""
    variables = {**variables, "service": "rag-demo", "release": release}
    query = re.sub(r"\{\{ variables\.(\w+) \}\}", lambda m: variables[m.group(1)],
                   _load(FLAGGER)["spec"]["query"])
    assert "{{" not in query
    return query


def _argo_query(release: str) -> tuple[str, dict]:
    """The query as an AnalysisRun resolves it ({{args.NAME}}: given, else the default)."""
    doc = _load(ARGO)
    given = {"service": "rag-demo", "release": release}
    values = {a["name"]: given.get(a["name"], a.get("value")) for a in doc["spec"]["args"]}
    (metric,) = doc["spec"]["metrics"]
    query = re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: values[m.group(1)],
                   metric["provider"]["prometheus"]["query"])
    assert "{{" not in query
    return query, metric


def _condition(expression: str, result: list[float]) -> bool:
    """An Argo Rollouts (expr-lang) condition of the form these gates use: comparisons of
    len(result) and result[0] joined by && / ||, evaluated as the expression says."""
    assert re.fullmatch(r"(len\(result\)|result\[0\]|[<>=!]=?|&&|\|\||[0-9.]+|\s)+",
                        expression), expression
    python = expression.replace("&&", " and ").replace("||", " or ")
    return bool(eval(python, {"__builtins__": {}}, {"result": result, "len": len}))  # noqa: S307


def argo_phase(stack: Stack, release: str) -> tuple[str, list[float]]:
    query, metric = _argo_query(release)
    result = [float(r["value"][1]) for r in stack.query(query)]
    failed = _condition(metric["failureCondition"], result)
    passed = _condition(metric["successCondition"], result)
    return ("Failed" if failed else "Successful" if passed else "Inconclusive"), result


def flagger_check(stack: Stack, release: str) -> tuple[str, float | None]:
    """Flagger's check: the template rendered with the Canary's templateVariables (the release
    being rolled out), one value against thresholdRange; no value halts (a failed check)."""
    metric = _example(FLAGGER)["spec"]["analysis"]["metrics"][0]
    query = _flagger_query(release, metric["templateVariables"])
    values = [float(r["value"][1]) for r in stack.query(query)]
    if not values:
        return "no values", None
    value = values[-1]  # Flagger's Prometheus provider keeps the last series' value
    return ("passed" if value <= metric["thresholdRange"]["max"] else "failed"), value


@pytest.mark.e2e
@pytest.mark.parametrize(("release", "argo", "flagger"), [
    ("v3", "Failed", "failed"),          # collapsed: degraded in most families
    ("v2", "Failed", "failed"),          # templated: degraded against v1 as well
    (CANARY, "Successful", "passed"),    # healthy, another process, judged against v3 and v1
    ("v1", "Inconclusive", "no values"),  # the baseline itself, with no predecessor
])
def test_gates_on_the_end_to_end_prometheus(ops_stack: Stack, release: str, argo: str,
                                            flagger: str) -> None:
    phase, result = argo_phase(ops_stack, release)
    check, value = flagger_check(ops_stack, release)
    assert (phase, check) == (argo, flagger), (result, value)
    if argo == "Failed":
        assert result == [1.0] and value == 1.0     # collapse suspected
    elif argo == "Successful":
        assert result == [0.0] and value == 0.0
    else:
        assert result == []
