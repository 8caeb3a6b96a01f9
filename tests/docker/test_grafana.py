"""The Grafana dashboard and its provisioning: valid JSON, a sane layout, every panel on the
provisioned datasource's uid, and every query reading metrics Pulse really exports."""

from __future__ import annotations

import re

import yaml
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from tests.docker.conftest import DOCKER
from tests.docker.promql import (
    DATASOURCE,
    NOT_CHARTED,
    PENDING,
    alert_queries,
    dashboard,
    panel_queries,
    panels,
    sample_names,
    selectors,
)

PROMETHEUS_SERIES = {"up", "ALERTS"}


def provisioned_datasource() -> dict:
    (source,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    return dict(source)


def test_the_datasource_is_prometheus_with_a_fixed_uid() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["uid"] == "pulse-prometheus"
    assert source["url"] == "http://prometheus:9090"  # the compose service


def test_every_panel_and_query_uses_the_provisioned_datasource_uid() -> None:
    uid = provisioned_datasource()["uid"]
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]


def test_panels_have_unique_ids_and_fit_the_grid_without_overlapping() -> None:
    board = dashboard()
    assert board["uid"] == "pulse-overview" and board["title"] == "Pulse"
    every = board["panels"]
    assert len({p["id"] for p in every}) == len(every)
    cells: dict[tuple[int, int], str] = {}
    for panel in every:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
    for panel in panels():
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]


def test_the_issue_asks_for_these_panels() -> None:
    titles = " | ".join(p["title"] for p in panels()).lower()
    for words in (
        "events/s by topic and outcome",
        "consumer lag (messages)",
        "consumer lag (seconds)",
        "end-to-end latency p50 / p99",
        "reviews scored/s",
        "reviews per inference call",
        "inference time per call",
        "execution provider in use",
        "decisions/s by rule and action",
        "dead letters/s by reason",
        "graph size",
        "recommender online quality",
        "workers up",
        "rebalances",
    ):
        assert words in titles, words


def test_every_query_reads_metrics_pulse_exports() -> None:
    exported = sample_names(Metrics(CollectorRegistry()).registry)
    pending = {p.prefix for p in PENDING.values()}
    for query in panel_queries() + alert_queries():
        for selector in selectors(query.expr):
            name = re.match(r"[\w:]+", selector).group(0)  # type: ignore[union-attr]
            known = name in exported or name in PROMETHEUS_SERIES
            assert known or any(name.startswith(p) for p in pending), f"{query.source}: {name}"


def test_every_metric_is_charted_or_left_out_with_a_reason() -> None:
    exported = sample_names(Metrics(CollectorRegistry()).registry)
    read = {
        re.match(r"[\w:]+", s).group(0)  # type: ignore[union-attr]
        for q in panel_queries()
        for s in selectors(q.expr)
    }
    charted = {exported[name] for name in read if name in exported}
    families = set(exported.values())
    missing = families - charted - set(NOT_CHARTED)
    assert not missing, f"metrics on no panel (chart them or list them in NOT_CHARTED): {missing}"
    assert set(NOT_CHARTED) <= families, "NOT_CHARTED names a metric that no longer exists"


def test_grafana_provisions_the_dashboards_folder() -> None:
    (provider,) = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "dashboards" / "pulse.yml").read_text()
    )["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
