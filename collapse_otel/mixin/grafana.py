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

    def to_json(self, panel_id: int, x: int, y: int) -> dict:
        defaults: dict = {"unit": self.unit, "color": {"mode": "palette-classic"}}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
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
         width: int = 6, height: int = 5) -> Panel:
    return Panel(title, "stat", [target(e, legend, instant=True) for e, legend in exprs], unit,
                 description, width, height, decimals=3)


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
