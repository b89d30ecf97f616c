"""The three Grafana dashboards, written as provisioned JSON into deploy/grafana/dashboards/.

Run `python deploy/grafana/dashboards.py` after changing a panel; tests/ops checks that the
JSON files are what this script writes, that they are well-formed dashboards, and that every
query returns data from a real Prometheus scraping a loaded pipeline.

Operations: flow per stage, latency, lag, rejections, worker health, TAXII.
Analysts: what flows by type, TLP and sector, confidence, feedback, confirmations.
Executives: one screen per sector over days and weeks: how much, how fast, how many members.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "kizuna-prometheus"}  # provisioning/datasources/prometheus.yml
OUT = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11
LATENCY_OBJECTIVE_S = 5  # deploy/prometheus/alerts.yml, KizunaLatencyAboveObjective
RATE = "$__rate_interval"

Panel = dict[str, Any]


def query(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend, "instant": instant, "range": not instant, "format": fmt}


def panel(kind: str, title: str, description: str, queries: list[dict[str, Any]], unit: str = "short",
          width: int = 12, height: int = 8, **extra: Any) -> Panel:
    targets = [{"refId": chr(ord("A") + n), "datasource": DATASOURCE, **q} for n, q in enumerate(queries)]
    defaults: dict[str, Any] = {"unit": unit}
    defaults.update(extra.pop("defaults", {}))
    body = {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []},
            "gridPos": {"w": width, "h": height}}
    body.update(extra)
    return body


def timeseries(title: str, description: str, queries: list[dict[str, Any]], unit: str = "short", **extra: Any) -> Panel:
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return panel("timeseries", title, description, queries, unit, options=options, **extra)


def stat(title: str, description: str, expr: str, unit: str = "short", width: int = 6) -> Panel:
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
               "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    return panel("stat", title, description, [query(expr, instant=True)], unit, width=width, height=5, options=options)


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def layout(items: list[Panel]) -> list[Panel]:
    """Ids in order, panels packed left to right, 24 columns wide; a row starts a new line."""
    x = y = line_height = 0
    for number, item in enumerate(items, start=1):
        grid = item["gridPos"]
        if item["type"] == "row" or x + grid["w"] > 24:
            x, y, line_height = 0, y + line_height, 0
        grid.update(x=x, y=y)
        item["id"] = number
        x, line_height = x + grid["w"], max(line_height, grid["h"])
        if item["type"] == "row":
            x, y, line_height = 0, y + grid["h"], 0
    return items


def variable(name: str, label: str, metric: str) -> dict[str, Any]:
    """A multi-select label filter; "All" matches every value (`.*`)."""
    definition = f"label_values({metric}, {name})"
    return {"type": "query", "name": name, "label": label, "datasource": DATASOURCE,
            "query": {"query": definition, "refId": f"{name}-values"}, "definition": definition,
            "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0}


def dashboard(uid: str, title: str, description: str, time_from: str, refresh: str, items: list[Panel],
              variables: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["kizuna"],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "graphTooltip": 1,
        "timezone": "utc", "time": {"from": time_from, "to": "now"}, "refresh": refresh,
        "templating": {"list": list(variables)}, "annotations": {"list": []}, "links": [
            {"type": "dashboards", "tags": ["kizuna"], "asDropdown": False, "title": "kizuna", "includeVars": False,
             "keepTime": True, "targetBlank": False, "icon": "external link", "tooltip": "", "url": ""}],
        "panels": layout(items),
    }


def quantiles(metric: str, by: str = "", selector: str = "", window: str = RATE) -> list[dict[str, Any]]:
    group = f"le, {by}" if by else "le"
    legend = f"{{{{{by}}}}} " if by else ""
    return [query(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{selector}[{window}])))",
                  f"{legend}p{round(q * 100)}") for q in (0.5, 0.9, 0.99)]


def operations() -> dict[str, Any]:
    latency_threshold = {"thresholds": {"mode": "absolute", "steps": [
        {"color": "green", "value": None}, {"color": "red", "value": LATENCY_OBJECTIVE_S}]},
        "custom": {"thresholdsStyle": {"mode": "line"}}}
    items = [
        row("Flow per stage"),
        stat("Workers up", "Worker processes answering Prometheus scrapes.", 'sum(up{job="kizuna-worker"})'),
        stat("Submissions / s", "Submissions parsed by normalize, last 5 minutes.",
             "sum(rate(kizuna_submissions_total[5m]))", "ops"),
        stat("Published / s", "Record versions published to topics and inboxes, last 5 minutes.",
             "sum(rate(kizuna_published_total[5m]))", "ops"),
        stat("p99 intake to publication", "Objective: 5 s (alert KizunaLatencyAboveObjective).",
             "histogram_quantile(0.99, sum by (le) (rate(kizuna_publish_latency_seconds_bucket[5m])))", "s"),
        timeseries("Objects through each stage",
                   "Objects found in submissions, normalised into records, merged, and record "
                   "versions published. Merged minus published versions is what deduplication saved.", [
                       query(f"sum(rate(kizuna_objects_in_total[{RATE}]))", "in (parsed)"),
                       query(f"sum(rate(kizuna_records_normalized_total[{RATE}]))", "normalised"),
                       query(f"sum(rate(kizuna_merge_objects_total[{RATE}]))", "merged"),
                       query(f"sum(rate(kizuna_published_total[{RATE}]))", "published versions")], "ops"),
        timeseries("Submissions by format", "Submissions taken from kizuna.intake, by detected format.",
                   [query(f"sum by (format) (rate(kizuna_submissions_total[{RATE}]))", "{{format}}")], "ops"),
        timeseries("Batches per stage", "Kafka batches each agent finished (normalize, feedback, merge).",
                   [query(f"sum by (stage) (rate(kizuna_stage_seconds_count[{RATE}]))", "{{stage}}")], "ops"),
        timeseries("Duplicates suppressed", "Share of merged objects that changed nothing anyone sees: no new version.",
                   [query(f'sum(rate(kizuna_merge_objects_total{{outcome="suppressed"}}[{RATE}])) '
                          f"/ sum(rate(kizuna_merge_objects_total[{RATE}]))", "suppressed")], "percentunit"),
        row("Latency"),
        timeseries("Intake to publication", "From the intake receipt to the broker's acknowledgement of the published "
                   "record (contributor tier and inboxes); the red line is the objective.",
                   quantiles("kizuna_publish_latency_seconds"), "s", defaults=latency_threshold),
        timeseries("Batch time per stage (p99)", "Time one agent batch takes, from read to acknowledged output.",
                   [query(f"histogram_quantile(0.99, sum by (le, stage) (rate(kizuna_stage_seconds_bucket[{RATE}])))",
                          "{{stage}}")], "s"),
        row("Consumer lag"),
        timeseries("Workers' lag by topic",
                   "Messages the workers have not consumed yet (alert KizunaWorkerLagGrowing).",
                   [query('max by (topic) (kizuna_consumer_lag{group_kind="worker"})', "{{topic}}")]),
        timeseries("Members' and hub connectors' lag by topic", "Summed over the groups of each kind; a member's "
                   "own topics appear as <ns>.org.*.<kind>. Members' lag is theirs to act on.",
                   [query('max by (group_kind, topic) (kizuna_consumer_lag{group_kind!="worker"})',
                          "{{group_kind}} {{topic}}")]),
        row("Rejections"),
        timeseries("Rejections by reason", "Items sent to kizuna.rejected (docs/records.md lists the reasons).",
                   [query(f"sum by (reason) (rate(kizuna_rejections_total[{RATE}]))", "{{reason}}")], "ops"),
        timeseries("Rejected share", "Rejections over objects in plus rejections (alert KizunaRejectionSpike at 25 %).",
                   [query(f"sum(rate(kizuna_rejections_total[{RATE}])) / (sum(rate(kizuna_objects_in_total[{RATE}])) "
                          f"+ sum(rate(kizuna_rejections_total[{RATE}])))", "rejected")], "percentunit"),
        row("Worker health"),
        timeseries("Up", "1 when the worker answered its last scrape (alerts KizunaWorkerDown, KizunaNoWorker).",
                   [query('up{job="kizuna-worker"}', "{{instance}}")], width=8),
        timeseries("CPU", "CPU seconds per second per worker.",
                   [query(f'rate(process_cpu_seconds_total{{job="kizuna-worker"}}[{RATE}])', "{{instance}}")],
                   "percentunit", width=8),
        timeseries("Memory", "Resident memory per worker (the warning lists take ~400 MiB).",
                   [query('process_resident_memory_bytes{job="kizuna-worker"}', "{{instance}}")], "bytes", width=8),
        timeseries("Lag last read",
                   "Age of the consumer-lag figures; growing means the workers cannot reach the brokers.",
                   [query('time() - max by (instance) '
                          '(kizuna_consumer_lag_refreshed_timestamp_seconds{job="kizuna-worker"})',
                          "{{instance}}")], "s"),
        timeseries("Open file descriptors", "Per worker; RocksDB and Kafka connections.",
                   [query('process_open_fds{job="kizuna-worker"}', "{{instance}}")]),
        row("TAXII server"),
        timeseries("TAXII requests by endpoint and status", "Requests answered by `kizuna taxii serve`.",
                   [query(f"sum by (endpoint, status) (rate(kizuna_taxii_requests_total[{RATE}]))",
                          "{{endpoint}} {{status}}")], "reqps", width=8),
        timeseries("TAXII errors", "Requests answered with 4xx or 5xx (401/403: bad or missing credentials).",
                   [query(f'sum by (endpoint, status) (rate(kizuna_taxii_requests_total{{status=~"[45].."}}[{RATE}]))',
                          "{{endpoint}} {{status}}")], "reqps", width=8),
        timeseries("TAXII request time", "Handling time per request.",
                   quantiles("kizuna_taxii_request_seconds")[1:], "s", width=8),
    ]
    return dashboard("kizuna-operations", "kizuna / Operations",
                     "Is the hub healthy and fast: flow per stage, latency, lag, rejections, workers.", "now-3h",
                     "30s", items)


def analysts() -> dict[str, Any]:
    scope = '{tlp=~"$tlp", sector=~"$sector"}'
    items = [
        row("What is flowing"),
        timeseries("Records by STIX type",
                   "Objects normalised into records: indicators, malware, attack patterns, relationships ...",
                   [query(f"sum by (stix_type) (rate(kizuna_records_normalized_total[{RATE}]))", "{{stix_type}}")],
                   "ops"),
        timeseries("Objects in by format", "Usable objects found in submissions, by the format they came in.",
                   [query(f"sum by (format) (rate(kizuna_objects_in_total[{RATE}]))", "{{format}}")], "ops"),
        timeseries("Published by TLP", "Record versions published, by TLP level.",
                   [query(f"sum by (tlp) (rate(kizuna_published_total{scope}[{RATE}]))", "{{tlp}}")], "ops", width=8),
        timeseries("Published by sector",
                   "Record versions published, by sector topic (all: the whole community; inbox: named recipients).",
                   [query(f"sum by (sector) (rate(kizuna_published_total{scope}[{RATE}]))", "{{sector}}")], "ops",
                   width=8),
        timeseries("Published by tier",
                   "contributor: at once, with status; general: confirmed records; recipient: inboxes.",
                   [query(f"sum by (tier) (rate(kizuna_published_total{scope}[{RATE}]))", "{{tier}}")], "ops", width=8),
        row("Confidence and feedback"),
        panel("bargauge", "Confidence of published versions",
              "How many versions were published in each confidence band "
              "over the time range (0-100, docs/confidence.md).",
              [query('sum by (le) (increase(kizuna_published_confidence_bucket{tlp=~"$tlp"}[$__range]))', "{{le}}",
                     instant=True, fmt="heatmap")], "short",
              options={"displayMode": "gradient", "orientation": "vertical", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        timeseries("Median confidence", "Median and 90th percentile of the confidence of published versions.", [
            query(f'histogram_quantile(0.5, sum by (le) '
                  f'(rate(kizuna_published_confidence_bucket{{tlp=~"$tlp"}}[{RATE}])))', "p50"),
            query(f'histogram_quantile(0.9, sum by (le) '
                  f'(rate(kizuna_published_confidence_bucket{{tlp=~"$tlp"}}[{RATE}])))', "p90")]),
        timeseries("Feedback by kind", "Valid sightings, confirmations and false-positive reports taken in.",
                   [query(f"sum by (kind) (rate(kizuna_feedback_total[{RATE}]))", "{{kind}}")], "ops"),
        timeseries("Confirmations and revocations", "Versions published to general members: confirmed (crossed the "
                   "threshold) and revoked (fell back or refuted).",
                   [query(f'sum by (status) (rate(kizuna_general_versions_total{{tlp=~"$tlp"}}[{RATE}]))',
                          "{{status}}")], "ops"),
        stat("Confirmed in range", "Versions confirmed for general members over the time range.",
             'sum(increase(kizuna_general_versions_total{status="confirmed", tlp=~"$tlp"}[$__range]))'),
        stat("Revoked in range", "Versions revoked from general members over the time range.",
             'sum(increase(kizuna_general_versions_total{status="revoked", tlp=~"$tlp"}[$__range]))'),
        stat("Feedback in range", "Valid feedback items over the time range.",
             "sum(increase(kizuna_feedback_total[$__range]))"),
        stat("Duplicates suppressed in range", "Merged objects that made no new version over the time range.",
             'sum(increase(kizuna_merge_objects_total{outcome="suppressed"}[$__range]))'),
    ]
    return dashboard("kizuna-analysts", "kizuna / Analysts",
                     "What is being shared: by type, TLP and sector; confidence; feedback; confirmations and "
                     "revocations.",
                     "now-24h", "1m", items, [variable("tlp", "TLP", "kizuna_published_total"),
                                        variable("sector", "Sector", "kizuna_published_total")])


def executives() -> dict[str, Any]:
    shared = 'kizuna_published_total{sector=~"$sector"}'
    latency = 'kizuna_publish_latency_seconds_bucket{sector=~"$sector"}'
    per_sector = panel("table", "Per sector", "Over the time range: record versions shared, 90 % of them within this "
                       "time of intake, and members that contributed in the last 30 days.", [
                           query(f"sum by (sector) (increase({shared}[$__range]))", instant=True, fmt="table"),
                           query(f"histogram_quantile(0.9, sum by (le, sector) (increase({latency}[$__range])))",
                                 instant=True, fmt="table"),
                           query('max by (sector) (kizuna_contributing_members{window="30d", sector=~"$sector"})',
                                 instant=True, fmt="table")],
                       width=24, height=9,
                       transformations=[
                           {"id": "merge", "options": {}},
                           {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
                               "Value #A": "Records shared", "Value #B": "p90 time to share (s)",
                               "Value #C": "Members contributing (30 d)", "sector": "Sector"}}}])
    items = [
        row("Summary"),
        stat("Records shared", "Record versions published to members over the time range.",
             f"sum(increase({shared}[$__range]))"),
        stat("Time to share (p90)", "90 % of records reached members within this time of being submitted.",
             f"histogram_quantile(0.9, sum by (le) (increase({latency}[$__range])))", "s"),
        stat("Confirmed by peers", "Records confirmed for all members by peer feedback over the time range.",
             'sum(increase(kizuna_general_versions_total{status="confirmed"}[$__range]))'),
        stat("Members contributing (7 d)", "Members that submitted or gave feedback in the last 7 days.",
             'max(kizuna_contributing_members{sector="all", window="7d"})'),
        per_sector,
        row("Over days and weeks"),
        timeseries("Shared per day, by sector", "Record versions published per day.",
                   [query(f"sum by (sector) (increase({shared}[1d]))", "{{sector}}")], interval="1h"),
        timeseries("Time to share per day", "Half and 90 % of the day's records reached members within this time.", [
            query(f"histogram_quantile(0.5, sum by (le) (increase({latency}[1d])))", "p50"),
            query(f"histogram_quantile(0.9, sum by (le) (increase({latency}[1d])))", "p90")], "s", interval="1h"),
        timeseries("Members contributing, by sector", "Members that submitted or gave feedback in the last 7 days.",
                   [query('max by (sector) (kizuna_contributing_members{window="7d", sector=~"$sector"})',
                          "{{sector}}")],
                   width=24, interval="1h"),
    ]
    return dashboard("kizuna-executives", "kizuna / Executives",
                     "How much was shared, how fast, and how many members took part, per sector.", "now-30d", "15m",
                     items,
                     [variable("sector", "Sector", "kizuna_published_total")])


DASHBOARDS = {"operations": operations, "analysts": analysts, "executives": executives}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name in DASHBOARDS:
        (OUT / f"{name}.json").write_text(render(name))
        print(f"wrote {OUT / name}.json")


if __name__ == "__main__":
    main()
