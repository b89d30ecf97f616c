"""The Grafana dashboards: built by deploy/grafana/dashboards.py, well-formed as Grafana dashboard
JSON (Grafana publishes no JSON schema for it, so the structure Grafana relies on is checked
here), every query valid PromQL (promtool), and every metric they name one the code exports."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from streams import metrics
from streams.core.reputation import Book
from streams.settings import ROOT, Settings
from tests.ops.prometheus import DASHBOARDS, DEPLOY, alert_rules, binaries, dashboard_expressions, substitute

BOARDS = {path.name: json.loads(path.read_text()) for path in DASHBOARDS}
PROVISIONED_UID = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
                                 .read_text())["datasources"][0]["uid"]
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "table"}
BUILTIN_VARIABLES = {"__rate_interval", "__range", "__interval"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


def generator():
    spec = importlib.util.spec_from_file_location("dashboards", DEPLOY / "grafana" / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_metrics() -> set[str]:
    """Every sample name a worker or connector exports: streams.metrics, its collectors, the process."""
    families = list(REGISTRY.collect())
    settings = Settings(pseudonym_key="x", members_file=ROOT / "tests" / "fixtures" / "members.yaml")
    families += list(metrics.ContributorsCollector(Book(), settings).collect())
    names = {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}
    return names | {"up"}


def test_the_three_dashboards_are_there() -> None:
    assert sorted(BOARDS) == ["analysts.json", "executives.json", "operations.json"]


def test_json_files_are_what_the_generator_writes() -> None:
    module = generator()
    for name in module.DASHBOARDS:
        assert (DEPLOY / "grafana" / "dashboards" / f"{name}.json").read_text() == module.render(name), \
            f"{name}.json differs: run `python deploy/grafana/dashboards.py`"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_structure(name: str) -> None:
    board = BOARDS[name]
    for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list), ("time", dict),
                      ("templating", dict), ("tags", list)):
        assert isinstance(board.get(key), kind), f"{key} missing or not {kind.__name__}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    cells: dict[tuple[int, int], int] = {}
    for panel in board["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["title"] and (panel["type"] == "row" or panel["description"])
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "xywh") and grid["w"] > 0 and grid["h"] > 0
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]
        if panel["type"] == "row":
            assert grid["w"] == 24 and grid["x"] == 0
            continue
        assert panel["datasource"]["uid"] == PROVISIONED_UID
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == PROVISIONED_UID and target["expr"].strip()


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_used_is_defined(name: str) -> None:
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == PROVISIONED_UID
        assert re.fullmatch(r"label_values\(\w+, \w+\)", variable["definition"])
    used = {m for panel in board["panels"] for t in panel.get("targets", []) for m in re.findall(r"\$(\w+)", t["expr"])}
    assert used - defined - BUILTIN_VARIABLES == set()


def test_every_metric_named_is_exported() -> None:
    exported = exported_metrics()
    named = {(item.where, name) for item in dashboard_expressions()
             for name in re.findall(r"\b((?:kizuna|process)_[a-z_]+|up)\b", item.expr)}
    named |= {(f"alert {r['alert']}", name) for r in alert_rules()
              for name in re.findall(r"\b((?:kizuna|process)_[a-z_]+|up)\b", r["expr"])}
    assert sorted((where, name) for where, name in named if name not in exported) == []
    assert len({name for _, name in named}) >= 20


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (variables filled in as Grafana would) as a recording rule."""
    rules = [{"record": f"kizuna_check:q{n}", "expr": substitute(item.expr, "1m", "1h")}
             for n, item in enumerate(dashboard_expressions())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([str(binaries() / "promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_panels_reflect_the_alert_thresholds() -> None:
    objective = next(r for r in alert_rules() if r["alert"] == "KizunaLatencyAboveObjective")["expr"]
    assert objective.endswith(f"> {generator().LATENCY_OBJECTIVE_S}")
