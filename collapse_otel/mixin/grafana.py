"""Grafana JSON builders (schemaVersion 39): panels, targets, variables, layout.

Every target and panel uses the ``${datasource}`` variable so one dashboard file works with
any Prometheus datasource; ids and gridPos are assigned by :func:`layout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import MixinConfig

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False,
           fmt: str = "time_series") -> dict:
    return {
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "expr": expr,
        "format": fmt,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref,
    }


@dataclass
class Panel:
    """A panel before layout: width in grid columns (24 = full row), height in rows."""

    title: str
    kind: str
    targets: list[dict]
    unit: str = "short"
    description: str = ""
    width: int = 8
    height: int = 8
    options: dict = field(default_factory=dict)
    decimals: int | None = None
    # (value, colour) steps from the lowest: colour the value by thresholds (the first
    # value is None: the base colour); value mappings and the text shown without data
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    mappings: list[dict] = field(default_factory=list)
    no_value: str = ""

    def to_json(self, panel_id: int, x: int, y: int) -> dict:
        defaults: dict = {"unit": self.unit, "color": {"mode": "palette-classic"}}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.thresholds:
            defaults["color"] = {"mode": "thresholds"}
            defaults["thresholds"] = {"mode": "absolute", "steps": [
                {"color": colour, "value": value} for value, colour in self.thresholds]}
        if self.mappings:
            defaults["mappings"] = self.mappings
        if self.no_value:
            defaults["noValue"] = self.no_value
        if self.kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                  "showPoints": "never", "spanNulls": False}
        panel = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options or _default_options(self.kind),
            "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(self.targets)],
        }
        return panel


def _default_options(kind: str) -> dict:
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "none", "justifyMode": "auto",
                "orientation": "auto", "textMode": "value_and_name"}
    if kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    return {}


def timeseries(title: str, exprs: list[tuple[str, str]], unit: str = "short",
               description: str = "", width: int = 8) -> Panel:
    return Panel(title, "timeseries", [target(e, legend) for e, legend in exprs], unit,
                 description, width)


def stat(title: str, exprs: list[tuple[str, str]], unit: str = "short", description: str = "",
         width: int = 6, height: int = 5, *,
         thresholds: list[tuple[float | None, str]] | None = None,
         mappings: list[dict] | None = None, no_value: str = "") -> Panel:
    return Panel(title, "stat", [target(e, legend, instant=True) for e, legend in exprs], unit,
                 description, width, height, decimals=3, thresholds=thresholds or [],
                 mappings=mappings or [], no_value=no_value)


def table(title: str, exprs: list[tuple[str, str]], description: str = "", width: int = 12,
          height: int = 8) -> Panel:
    """Instant queries shown as a table, one row per series (its labels as columns)."""
    return Panel(title, "table", [target(e, legend, instant=True, fmt="table")
                                  for e, legend in exprs], "short", description, width, height)


def value_text(exact: dict[int, tuple[str, str]],
               at_least: tuple[float, str, str] | None = None) -> list[dict]:
    """Grafana value mappings: exact values to (text, colour), and optionally every value
    from ``at_least[0]`` up to (text, colour)."""
    out: list[dict] = [{"type": "value", "options": {
        str(v): {"text": text, "color": colour, "index": i}
        for i, (v, (text, colour)) in enumerate(exact.items())}}]
    if at_least is not None:
        low, text, colour = at_least
        out.append({"type": "range", "options": {"from": low, "to": None, "result": {
            "text": text, "color": colour, "index": len(exact)}}})
    return out


@dataclass
class Row:
    title: str
    panels: list[Panel]


def layout(rows: list[Row]) -> list[dict]:
    """Row panels followed by their panels, packed left to right into 24 columns."""
    out: list[dict] = []
    next_id, y = 1, 0
    for row in rows:
        out.append({"id": next_id, "type": "row", "title": row.title, "collapsed": False,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id, y = next_id + 1, y + 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            out.append(panel.to_json(next_id, x, y))
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out


def datasource_variable(cfg: MixinConfig) -> dict:
    return {
        "name": "datasource", "label": "Data source", "type": "datasource",
        "query": "prometheus", "regex": "", "hide": 0, "refresh": 1,
        "includeAll": False, "multi": False, "options": [],
        "current": {"selected": False, "text": cfg.datasource_name,
                    "value": cfg.datasource_name},
    }


def query_variable(name: str, label: str, query: str, multi: bool = False,
                   include_all: bool = False) -> dict:
    variable = {
        "name": name, "label": label, "type": "query",
        "datasource": dict(DATASOURCE),
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2, "regex": "", "sort": 1, "hide": 0,
        "multi": multi, "includeAll": include_all, "options": [], "current": {},
    }
    if include_all:
        variable["allValue"] = ".*"
    return variable


def dashboard(cfg: MixinConfig, uid_suffix: str, title: str, description: str,
              variables: list[dict], rows: list[Row]) -> dict:
    return {
        "uid": f"{cfg.dashboard_uid_prefix}-{uid_suffix}",
        "title": title,
        "description": description,
        "tags": list(cfg.dashboard_tags),
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": cfg.dashboard_refresh,
        "time": {"from": cfg.dashboard_time_from, "to": "now"},
        "timepicker": {},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "collapse-otel", "type": "dashboards", "tags": list(cfg.dashboard_tags),
                   "asDropdown": True, "includeVars": True, "keepTime": True}],
        "templating": {"list": [datasource_variable(cfg), *variables]},
        "panels": layout(rows),
    }
