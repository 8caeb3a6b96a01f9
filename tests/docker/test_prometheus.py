"""Prometheus files: both configs and the alert rules pass promtool, every alert the
operators need exists, and promtool's unit tests prove each one fires (and stays quiet)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.docker.conftest import DOCKER

PROMETHEUS = DOCKER / "prometheus"
#: What each alert is for (issue 7): an alert is never dropped without changing this.
REQUIRED_ALERTS = {
    "PulseConsumerLagGrowing",
    "PulseDeadLetterRateHigh",
    "PulseNoDecisions",
    "PulseWorkerDown",
    "PulseSentimentOnCpu",
}


def promtool_run(promtool: str, *args: str | Path) -> str:
    done = subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    out = promtool_run(promtool, "check", "rules", PROMETHEUS / "alerts.yml")
    assert f"SUCCESS: {len(alert_rules())} rules found" in out


def test_compose_config_passes_promtool_check(promtool: str) -> None:
    out = promtool_run(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in out and "WARNING" not in out


def test_pulse_up_config_finds_its_targets_file_and_rules(promtool: str, tmp_path: Path) -> None:
    for name in ("pulse-up.yml", "alerts.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    targets = [{"targets": ["127.0.0.1:6066", "127.0.0.1:6067"]}]
    (tmp_path / "targets.json").write_text(json.dumps(targets))
    out = promtool_run(promtool, "check", "config", tmp_path / "pulse-up.yml")
    assert "SUCCESS: 1 rule files found" in out and "WARNING" not in out


def test_each_alert_fires_in_its_failure_and_not_when_healthy(promtool: str) -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert {r["alert"] for r in alert_rules()} <= firing, "an alert without a firing test"
    out = promtool_run(promtool, "test", "rules", PROMETHEUS / "alerts.test.yml")
    assert "SUCCESS" in out


def test_every_required_alert_exists_with_a_severity_and_a_summary() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
