"""Offline checks of the generated Grafana dashboards (what Grafana would reject or mis-render)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collapse_otel.export.names import HEALTH_METRICS, STREAM_METRICS
from collapse_otel.mixin import MixinConfig
from collapse_otel.mixin.verdict import (
    STDERR,
    VALUE,
    change,
    families_degraded,
    family_degraded,
    suspected,
    tightest,
    z_critical,
    zscore,
)
from collapse_otel.signals.registry import FAMILIES, SIGNALS, VERDICT_SIGNALS

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_FILES = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def _load(name: str) -> dict:
    return json.loads((ROOT / "grafana" / "dashboards" / name).read_text())


def _targets(model: dict) -> list[dict]:
    return [t for p in model["panels"] for t in p.get("targets", [])]


def _variables(model: dict) -> dict[str, dict]:
    return {v["name"]: v for v in model["templating"]["list"]}


def test_the_four_dashboards_exist() -> None:
    assert [p.name for p in DASHBOARD_FILES] == [
        "collapse-overview.json", "collapse-plugin-health.json",
        "collapse-release-comparison.json", "collapse-training-data.json"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    model = json.loads(path.read_text())
    assert model["schemaVersion"] == 39
    assert re.fullmatch(r"[a-z0-9-]{1,40}", model["uid"])
    assert model["title"] and model["time"]["from"].startswith("now-")
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert set(pos) == {"h", "w", "x", "y"}, panel["title"]
        assert all(isinstance(v, int) for v in pos.values())
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
        covered = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                   for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not covered & cells, f"panel overlaps another: {panel['title']}"
        cells |= covered
        if panel["type"] == "row":
            assert "targets" not in panel
            continue
        assert panel["type"] in {"timeseries", "stat", "table"}
        assert panel["datasource"] == DATASOURCE
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip()


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_says_what_its_numbers_mean(path: Path) -> None:
    """A newcomer hovers the (i): every panel describes what its value is, in a sentence."""
    for panel in json.loads(path.read_text())["panels"]:
        if panel["type"] != "row":
            description = panel.get("description", "")
            assert len(description) >= 30 and description.endswith((".", ")", "?")), \
                panel["title"]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_variables_are_defined_and_use_the_datasource_variable(path: Path) -> None:
    model = json.loads(path.read_text())
    variables = _variables(model)
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    assert model["templating"]["list"][0] is not None and model["templating"]["list"][0] == ds
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE
            assert var["query"]["query"] == var["definition"]
    text = json.dumps([t["expr"] for t in _targets(model)] +
                      [v["definition"] for v in variables.values() if v["type"] == "query"])
    used = set(re.findall(r"\$\{?(\w+)", text))
    undefined = used - set(variables) - BUILTIN_VARIABLES
    assert not undefined, f"undefined variables: {undefined}"


def test_overview_has_the_stream_variables_and_every_signal_per_release() -> None:
    model = _load("collapse-overview.json")
    variables = _variables(model)
    for name in ("service", "release", "cohort"):
        assert variables[name]["type"] == "query"
    assert variables["release"]["multi"] and variables["release"]["includeAll"]
    exprs = [t["expr"] for t in _targets(model)]
    text = "\n".join(exprs)
    for metric in STREAM_METRICS:
        name = metric.name + "_bucket" if metric.kind == "histogram" else metric.sample_name
        if metric.name in ("collapse_answers_truncated", "collapse_window_signal_stderr"):
            continue  # on the health dashboard's coverage row; intervals on the comparison
        assert re.search(rf"\b{name}\b", text), f"overview lacks {name}"
    for expr in exprs:
        assert 'release=~"$release"' in expr and 'cohort=~"$cohort"' in expr, expr
        assert re.search(r"\bby \([^)]*\brelease\b", expr), f"not per release: {expr}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_query_filters_on_job_and_instance(path: Path) -> None:
    model = json.loads(path.read_text())
    variables = _variables(model)
    for name in ("job", "instance"):
        assert variables[name]["multi"] and variables[name]["includeAll"], name
    names = [v["name"] for v in model["templating"]["list"]]
    assert names[1:3] == ["job", "instance"]
    for target in _targets(model):
        assert 'job=~"$job"' in target["expr"] and 'instance=~"$instance"' in target["expr"], \
            target["expr"]


def _other_side(expr: str) -> str:
    return expr.replace("$release_a", "$release_b").replace("$cohort_a", "$cohort_b")


def _panel(panels: list[dict], title: str) -> dict:
    (panel,) = [p for p in panels if p["title"] == title]
    return panel


def test_release_comparison_is_the_verdict_per_family_and_signal() -> None:
    model = _load("collapse-release-comparison.json")
    variables = _variables(model)
    assert list(variables) == ["datasource", "job", "instance", "service", "release_a",
                               "cohort_a", "release_b", "cohort_b"]
    for name in ("service", "release_a", "cohort_a", "release_b", "cohort_b"):
        assert variables[name]["type"] == "query" and not variables[name]["multi"], name
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    families = [f for f in FAMILIES if any(s.family == f for s in VERDICT_SIGNALS)]
    assert rows == ["Verdict for B", *(f.capitalize() for f in families),
                    "Token counts over the selected range"]
    panels = [p for p in model["panels"] if p["type"] != "row"]
    zc = round(z_critical(MixinConfig()), 2)
    for s in VERDICT_SIGNALS:  # every verdict signal, none other, from the registry
        values = _panel(panels, s.title)
        a, a95, b, b95 = (t["expr"] for t in values["targets"])
        assert _other_side(a) == b and _other_side(a95) == b95
        assert f'signal="{s.key}"' in a and a.startswith(VALUE + "{")
        assert a95.startswith(f"1.96 * {STDERR}" + "{")
        assert values["fieldConfig"]["defaults"]["unit"] == s.unit
        for ref, name in (("previous_release", "previous"), ("baseline_release", "baseline")):
            delta = _panel(panels, f"{s.title}: change vs {name}")
            (expr,) = (t["expr"] for t in delta["targets"])
            assert expr.startswith(change(ref) + "{") and '"$release_b"' in expr
            unit = "percentunit" if s.change == "relative" else s.unit
            assert delta["fieldConfig"]["defaults"]["unit"] == unit
        z = _panel(panels, f"{s.title}: z toward collapse")
        assert [t["expr"].lstrip("-").split("{")[0] for t in z["targets"]] == [
            zscore("previous_release"), zscore("baseline_release")]
        assert all(t["expr"].startswith("-") == (s.collapse < 0) for t in z["targets"])
        steps = z["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [st["value"] for st in steps] == [None, zc]
    for family in families:
        verdict = _panel(panels, f"{family.capitalize()}: verdict")
        defaults = verdict["fieldConfig"]["defaults"]
        assert defaults["noValue"] == "not judged" and defaults["mappings"]
        assert all(family_degraded("") in t["expr"] for t in verdict["targets"])
    for title in ("Collapse suspected", "Families degraded", "Answers in window",
                  "Release lineage"):
        _panel(panels, title)
    assert not [s for s in SIGNALS if not s.verdict and any(p["title"] == s.title
                                                             for p in panels)]
    # Never a raw (B - A) / A that can be +Inf: no query mixes the two sides; B's changes
    # come from the change rules (no value for a zero reference).
    for t in _targets(model):
        assert not ("$release_a" in t["expr"] and "$release_b" in t["expr"]), t["expr"]
    quantile_exprs = [t["expr"] for t in _targets(model) if "histogram_quantile" in t["expr"]]
    for hist in ("collapse_completion_tokens_bucket", "collapse_prompt_tokens_bucket"):
        assert sum(hist in e for e in quantile_exprs) >= 6


def test_overview_lists_releases_with_collapse_suspected() -> None:
    model = _load("collapse-overview.json")
    row = [p["title"] for p in model["panels"] if p["type"] == "row"][0]
    assert row == "Releases with collapse suspected"
    for ref, name in (("previous_release", "previous"), ("baseline_release", "baseline")):
        (panel,) = [p for p in model["panels"]
                    if p["title"] == f"Releases with collapse suspected (vs {name} release)"]
        assert panel["type"] == "table"
        (target,) = panel["targets"]
        assert f"{families_degraded(ref)}" in target["expr"]
        assert f" {suspected(ref)} == 1\n" in target["expr"] and target["instant"]


def test_plugin_health_shows_every_health_metric() -> None:
    text = "\n".join(t["expr"] for t in _targets(_load("collapse-plugin-health.json")))
    for metric in HEALTH_METRICS:
        assert re.search(rf"\b{metric.sample_name}\b", text), metric.sample_name
    assert "by (instance, reason)" in text


def test_runbook_names_only_panels_that_exist() -> None:
    """The runbook says which panel confirms an alert (*Panel title*); those panels must exist."""
    text = (ROOT / "exporters" / "prometheus" / "runbook.md").read_text()
    text = re.sub(r"^    .*$", "", text, flags=re.M)  # indented code
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"(?<!\n)\n(?!\n)", " ", text)  # italics may wrap within a paragraph
    named = set(re.findall(r"(?<![*\w])\*(?![\s*])([^*\n]+?)(?<!\s)\*(?![*\w])", text))
    named.discard('How "the previous release" is decided')  # a runbook section, not a panel
    titles = [p["title"] for path in DASHBOARD_FILES for p in json.loads(path.read_text())["panels"]]
    assert len(named) >= 15
    missing = sorted(n for n in named if not any(t.startswith(n) for t in titles))
    assert not missing, f"runbook names panels that do not exist: {missing}"


def test_runbook_and_operations_page_quote_the_current_verdict_bound() -> None:
    """The bound's width depends on how many signals are in the verdict: the docs must
    follow."""
    _, width = tightest(MixinConfig())
    n, alpha = len(VERDICT_SIGNALS), MixinConfig().verdict_alpha
    runbook = (ROOT / "exporters" / "prometheus" / "runbook.md").read_text()
    page = (ROOT / "docs" / "operations.md").read_text()
    assert f"all {n} verdict signals" in runbook and f"2 ln({n}/{alpha:g})" in runbook
    assert f"tightest ({width:.2f})" in runbook
    assert f"{width:.2f} at best for the {n} verdict signals at alpha {alpha:g}" in page
