"""The alert rules and Prometheus configurations, checked by Prometheus' own promtool:
syntax (`check rules`, `check config`) and behaviour (`test rules` with deploy/prometheus/alerts.test.yml:
each alert fires on its condition and stays quiet otherwise)."""
from __future__ import annotations

import subprocess

import pytest

from tests.ops.prometheus import ALERTS, DEPLOY, alert_rules, binaries, measure


@pytest.fixture(scope="module")
def promtool() -> str:
    return str(binaries() / "promtool")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_rules_are_valid(promtool: str) -> None:
    done = run(promtool, "check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_alerts_fire_when_they_should_and_only_then(promtool: str) -> None:
    done = run(promtool, "test", "rules", str(DEPLOY / "prometheus" / "alerts.test.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test(promtool: str) -> None:
    text = (DEPLOY / "prometheus" / "alerts.test.yml").read_text()
    assert [r["alert"] for r in alert_rules() if f"alertname: {r['alert']}" not in text] == []


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_prometheus_configurations_are_valid(promtool: str, config: str) -> None:
    done = run(promtool, "check", "config", str(DEPLOY / "prometheus" / config))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_labelled_and_explained() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_measure_keeps_every_series_of_a_condition() -> None:
    assert measure('up{job="kizuna-worker"} == 0') == 'up{job="kizuna-worker"} == bool 0'
    assert (measure('sum(rate(x{le="5"}[5m])) > 0.25 and sum(y) > 100')
            == 'sum(rate(x{le="5"}[5m])) > bool 0.25 and sum(y) > bool 100')
    assert all(" bool " in measure(rule["expr"]) for rule in alert_rules())
