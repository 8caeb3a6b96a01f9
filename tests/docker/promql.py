"""The PromQL of Pulse's dashboard and alert rules, as the tests read it.

>>> selectors('sum by (topic) (rate(pulse_stream_events_total{outcome="processed"}[5m])) > 0')
['pulse_stream_events_total{outcome="processed"}']
>>> substitute("rate(x[$__rate_interval])", "15s")
'rate(x[15s])'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.docker.conftest import DOCKER

DASHBOARD = DOCKER / "grafana" / "dashboards" / "pulse.json"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
DATASOURCE = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

#: PromQL words that look like metric names but are not.
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}  # fmt: skip
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.\"])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?")


@dataclass(frozen=True)
class Query:
    """One expression: where it comes from (a panel's target or an alert) and its PromQL."""

    source: str
    expr: str


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels() -> list[dict[str, Any]]:
    """Every panel of the dashboard, rows' nested panels included, rows left out."""
    out = []
    for panel in dashboard()["panels"]:
        out.extend(panel.get("panels", []))
        if panel["type"] != "row":
            out.append(panel)
    return out


def panel_queries() -> list[Query]:
    return [
        Query(f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in panels()
        for t in p.get("targets", [])
    ]


def alert_queries() -> list[Query]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [
        Query(f"alert {r['alert']}", r["expr"].strip())
        for g in groups
        for r in g["rules"]
        if "alert" in r
    ]


def substitute(expr: str, rate_interval: str) -> str:
    """Grafana's ``$__rate_interval`` replaced as Grafana would, with the given window."""
    return expr.replace("$__rate_interval", rate_interval)


def selectors(expr: str) -> list[str]:
    """The series selectors (metric name and label matchers) an expression reads."""
    text = _CLAUSE.sub(" ", re.sub(r"\[[^\]]*\]", "", expr))
    found = []
    for match in _NAME.finditer(text):
        name, matchers = match.group(1), match.group(2) or ""
        following = text[match.end() :].lstrip()[:1]
        if name.lower() in _KEYWORDS or (following == "(" and not matchers):
            continue  # a function, an aggregation or a keyword
        found.append(name + matchers)
    return found


@dataclass(frozen=True)
class Pending:
    """A panel whose subsystem has not landed: it must parse and return nothing yet."""

    reason: str
    prefix: str  # the subsystem's metric names start so; one appearing means it landed


#: Panels for subsystems of other issues. The live test fails when their metrics appear,
#: so that the panel is checked (and fixed if the names differ) instead of staying empty.
#: (None now: the knowledge graph and the online recommenders export theirs.)
PENDING: dict[str, Pending] = {}
#: Metrics Pulse exports that the dashboard leaves out on purpose.
NOT_CHARTED = {
    "pulse_feedback_offset": "a position in the log; the feedback lag panel shows what it means",
    "pulse_gc_freezes": "a diagnostic of the worker's heap (how often the objects alive "
    "were kept out of the cyclic collector); resident memory is charted",
}


def is_pending(query: Query) -> Pending | None:
    return next(
        (p for title, p in PENDING.items() if query.source.startswith(f"panel {title!r}")), None
    )


def sample_names(registry: Any) -> dict[str, str]:
    """``sample name -> metric family`` for every metric in a registry, labelled or not."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix: family.name
        for family in registry.collect()
        for suffix in suffixes[family.type]
    }
