"""A real Prometheus for tests and the latency plot: Debian's binary (deploy/prometheus/fetch.sh),
and every PromQL expression the dashboards and alerts use, ready to run against it."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams.settings import ROOT
from tests.harness import free_port

DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(?=[0-9.])")


def binaries() -> Path:
    """The directory with `prometheus` and `promtool`, fetched once into var/prometheus."""
    done = subprocess.run([str(DEPLOY / "prometheus" / "fetch.sh")], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"deploy/prometheus/fetch.sh failed: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Expression:
    where: str  # "operations.json: panel 6 'Objects through each stage' A", "alert KizunaNoWorker"
    expr: str
    instant: bool


def dashboard_expressions() -> list[Expression]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append(Expression(f"{path.name}: panel {panel['id']} {panel['title']!r} {target['refId']}",
                                      target["expr"], target.get("instant", False)))
    return out


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def measure(expr: str) -> str:
    """An alert condition with every comparison against a number made a `bool` comparison: the
    measure behind the alert, with a value (0 or 1) for every series instead of only the firing ones."""
    return COMPARISON.sub(lambda m: f"{m.group(1)} bool ", expr)


def substitute(expr: str, rate_interval: str, range_: str) -> str:
    """Grafana's variables as Grafana would fill them in with "All" selected."""
    for name, value in (("$__rate_interval", rate_interval), ("$__range", range_), ("$__interval", "1s"),
                        ("$tlp", ".*"), ("$sector", ".*")):
        expr = expr.replace(name, value)
    if "$" in expr:
        raise ValueError(f"unsubstituted variable in {expr!r}")
    return expr


class Prometheus:
    """A Prometheus process on a free port, scraping `targets` (job kizuna-worker) every second, with
    the alert rules loaded and evaluated every second."""

    def __init__(self, workdir: Path, targets: list[str], scrape: str = "1s") -> None:
        self.workdir, self.port = workdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {"global": {"scrape_interval": scrape, "evaluation_interval": "1s"},
                  "rule_files": [str(ALERTS)],
                  "scrape_configs": [{"job_name": "kizuna-worker", "static_configs": [{"targets": targets}]}]}
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Prometheus":
        self.proc = subprocess.Popen(
            [str(binaries() / "prometheus"), f"--config.file={self.config}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle"],
            stdout=(self.workdir / "prometheus.log").open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
                time.sleep(0.2)
        raise RuntimeError("prometheus not ready in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400: a query Prometheus cannot parse or run
            body = json.loads(exc.read())
        if body["status"] != "success":
            raise ValueError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        return self.api("query", query=expr, **({"time": at} if at else {}))["result"]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def value(self, expr: str) -> float:
        """The single value of a scalar-like expression; 0 when it has no data yet."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0
