"""`make bench`: every benchmark in one run against the real local broker, side by side; the pipeline
also on the local 3-broker cluster when `make cluster` is up.

Prints a table and writes var/bench/results.json. Ratios are computed from
figures measured in this same run (the machine is noisy; compare within a run).
`--quick` shrinks every size for a smoke run; `--only vulns` runs the R8 matching benchmark
alone (no broker needed) into var/bench/results-vulns.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.kafka_io import client_config
from streams.settings import ROOT, get_settings
from tests.bench.backpressure import run_backpressure
from tests.bench.ceiling import run_ceiling
from tests.bench.data import indicators
from tests.bench.feedback import run_feedback
from tests.bench.intelmq_peer import ensure_intelmq, run_intelmq
from tests.bench.latency import PER_SUBMISSION, run_latency
from tests.bench.pipeline import run_pipeline
from tests.bench.stages import run_stages
from tests.bench.state import run_state
from tests.bench.taxii_store import run_taxii_store
from tests.bench.vulns import run_vulns
from tests.bench.warninglists import run_warninglists

TARGETS = {"pipeline_per_s": 20_000, "ceiling_share": 0.15, "p99_ms_at_5000": 1000, "intelmq_ratio": 10,
           "feedback_per_s": 20_000, "worker_rss_mib": 400}
# Latency measured at these shares of the 2-worker capacity of the same run, for submissions of the latency
# runs' own shape (50-indicator CSVs cost more per indicator than the 1,000-indicator ones of `pipeline_2w`).
CAPACITY_SHARES = (0.25, 0.5, 0.8)
ROUNDS = 3  # runs of the 2-worker pipeline, compiled and reference core alternating: one run varies ±15 %


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every benchmark")
    parser.add_argument("--skip-peer", action="store_true", help="leave out IntelMQ (needs apt-get and PyPI)")
    parser.add_argument("--only", choices=["vulns"], help="run this benchmark alone (vulns: R8 matching at scale)")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    seconds = 10 if args.quick else 60
    console = Console()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = ROOT / "var" / "bench" / (f"results-{args.only}.json" if args.only else "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def measured(name: str, figures: dict[str, Any]) -> None:
        results[name] = figures
        out.write_text(json.dumps(results, indent=2))  # after every phase: a later failure keeps these
        console.print(f"{name}: {json.dumps(figures)}")

    if args.only == "vulns":
        measured("vulns", run_vulns(members=1000 if args.quick else 10_000,
                                    catalogue_size=30_000 if args.quick else 300_000))
        report_vulns(console, results["vulns"])
        return
    client = client_config(get_settings())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        measured("warninglists", run_warninglists(work / "wl"))
        measured("stages", run_stages(min(n, 50_000)))
        measured("stages_reference", reference_stages(min(n, 50_000)))
        measured("vulns", run_vulns(members=1000 if args.quick else 10_000,
                                    catalogue_size=30_000 if args.quick else 300_000))
        measured("ceiling", run_ceiling(client, n))
        measured("pipeline_1w", run_pipeline(n, work / "p1", workers=1))
        rounds: dict[str, list[dict[str, Any]]] = {"pipeline_2w": [], "pipeline_2w_reference": []}
        for round_ in range(1 if args.quick else ROUNDS):  # compiled and reference core alternating
            for name, native in (("pipeline_2w", True), ("pipeline_2w_reference", False)):
                rounds[name].append(run_pipeline(n, work / f"{name}-{round_}", workers=2, native=native))
        for name, runs in rounds.items():
            measured(name, median_run(runs))
        measured("pipeline_2w_small", run_pipeline(n, work / "p2s", workers=2, submission_size=PER_SUBMISSION))
        cluster = on_cluster(n)
        if cluster is not None:
            measured("pipeline_cluster_2w", cluster)
        for rate in (1000, 5000):
            measured(f"latency_{rate}", run_latency(rate, seconds, work / f"l{rate}"))
        capacity = results["pipeline_2w_small"]["indicators_per_s"]  # the latency runs' submissions
        for share in CAPACITY_SHARES:
            rate = max(100, int(capacity * share))
            measured(f"latency_cap{int(share * 100)}", {"rate": rate, **run_latency(rate, seconds, work / f"c{share}")})
        measured("feedback", run_feedback(n * 2, n // 10, work / "feedback"))
        measured("state", run_state(n * 5, work / "state"))
        measured("taxii_store", run_taxii_store(work / "taxii", n=n * 5))
        measured("backpressure", run_backpressure(n * 5, work / "backpressure"))
        if not args.skip_peer:
            ensure_intelmq()
            measured("intelmq", run_intelmq(indicators(min(n, 20_000)), ROOT / "var" / "bench"))
    report(console, results)
    console.print(f"results: {out}")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput, with every run's figure beside it."""
    ordered = sorted(runs, key=lambda run: run["indicators_per_s"])
    return {**ordered[len(ordered) // 2], "runs_per_s": [run["indicators_per_s"] for run in runs],
            "complete": all(run["complete"] for run in runs)}


def reference_stages(n: int) -> dict[str, Any]:
    """The stage figures of the reference Python (KIZUNA_NATIVE=0), in a process of its own."""
    done = subprocess.run([sys.executable, "-m", "tests.bench.stages", str(n)], cwd=ROOT, capture_output=True,
                          env={**os.environ, "KIZUNA_NATIVE": "0"}, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"stages of the reference Python failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def on_cluster(n: int) -> dict[str, Any] | None:
    """The 2-worker pipeline on the local 3-broker cluster (`make cluster`: replication 3, min ISR 2,
    acks=all), beside the single broker in the same run; None when the cluster is not up."""
    env_file = get_settings().var_dir / "cluster" / "cluster.env"
    if not env_file.exists():
        return None
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and line[0] != "#")
    host, _, port = env["KIZUNA_BOOTSTRAP_SERVERS"].split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return None
    done = subprocess.run([sys.executable, "-m", "tests.bench.pipeline", "--n", str(n), "--workers", "2"],
                          env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"pipeline on the cluster failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout[done.stdout.index("{"):])


def report(console: Console, results: dict[str, Any]) -> None:
    best = max(results["pipeline_1w"]["indicators_per_s"], results["pipeline_2w"]["indicators_per_s"])
    ceiling = results["ceiling"]["end_to_end_rps"]
    table = Table("measure", "figure", "target", "met")

    def row(name: str, figure: str, target: str, met: bool | None) -> None:
        table.add_row(name, figure, target, "" if met is None else ("yes" if met else "NO"))

    row("Kafka ceiling (pass-through, end to end)", f"{ceiling:,.0f} rec/s", "", None)
    for workers in (1, 2):
        p = results[f"pipeline_{workers}w"]
        runs = p.get("runs_per_s", [])
        row(f"pipeline, {workers} worker(s), {p['indicators']:,} indicators" + (
            f" (median of {len(runs)} runs)" if len(runs) > 1 else ""), f"{p['indicators_per_s']:,.0f} ind/s"
            + (f" ({' / '.join(f'{r:,.0f}' for r in runs)})" if len(runs) > 1 else "")
            + ("" if p["complete"] else " INCOMPLETE"), f"≥ {TARGETS['pipeline_per_s']:,}",
            p["complete"] and p["indicators_per_s"] >= TARGETS["pipeline_per_s"])
    if "pipeline_2w_small" in results:
        p = results["pipeline_2w_small"]
        row(f"pipeline, 2 workers, {p['submissions']:,} CSV submissions of {PER_SUBMISSION} (capacity for the "
            "latency rows)", f"{p['indicators_per_s']:,.0f} ind/s" + ("" if p["complete"] else " INCOMPLETE"), "",
            None)
    if "pipeline_2w_reference" in results:
        p, compiled = results["pipeline_2w_reference"], results["pipeline_2w"]["indicators_per_s"]
        runs = p.get("runs_per_s", [])
        row("pipeline, 2 workers, reference Python core (KIZUNA_NATIVE=0), runs alternating with the compiled "
            "core's; compiled / reference", f"{p['indicators_per_s']:,.0f} ind/s"
            + (f" ({' / '.join(f'{r:,.0f}' for r in runs)})" if len(runs) > 1 else "")
            + f"; {compiled / p['indicators_per_s']:.2f}×", "", None)
    if "pipeline_cluster_2w" in results:
        p = results["pipeline_cluster_2w"]
        row(f"pipeline, 2 workers, 3-broker cluster (replication 3, min ISR 2), {p['indicators']:,} indicators",
            f"{p['indicators_per_s']:,.0f} ind/s" + ("" if p["complete"] else " INCOMPLETE"), "", None)
    row("pipeline / ceiling", f"{best / ceiling:.1%}", f"≥ {TARGETS['ceiling_share']:.0%}",
        best / ceiling >= TARGETS["ceiling_share"])
    for rate in (1000, 5000):
        lat = results[f"latency_{rate}"]
        row(f"latency at {rate:,}/s p50 / p95 / p99",
            f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['p99_ms']:.0f} ms",
            "p99 ≤ 1000 ms" if rate == 5000 else "",
            lat["p99_ms"] <= TARGETS["p99_ms_at_5000"] if rate == 5000 else None)
    for share in CAPACITY_SHARES:
        lat = results[f"latency_cap{int(share * 100)}"]
        row(f"latency at {share:.0%} of capacity ({lat['rate']:,}/s) p50 / p99",
            f"{lat['p50_ms']:.0f} / {lat['p99_ms']:.0f} ms", "p99 ≤ 1000 ms",
            lat["p99_ms"] <= TARGETS["p99_ms_at_5000"])
    for name, label in (("stages", "compiled core"), ("stages_reference", "reference Python")):
        if name not in results:
            continue
        stages, steps = results[name]["us_per_indicator"], results[name]["steps_us_per_indicator"]
        row(f"µs per indicator in process, {label}: " + ", ".join(stages),
            " / ".join(f"{us:.1f}" for us in stages.values()), "", None)
        row(f"µs per indicator, {label}: normalize step / merge step" + (", framework (the rest of 1 worker's "
            "pipeline figure)" if name == "stages" else ""), " / ".join(f"{us:.1f}" for us in steps.values()) + (
            f" / {1e6 / results['pipeline_1w']['indicators_per_s'] - results[name]['total_us_per_indicator']:.1f}"
            if name == "stages" else ""), "", None)
    wl = results["warninglists"]
    row("warning lists: RSS / start / µs per lookup, sets → compact shared file",
        f"{wl['reference']['rss_mib']:.0f} → {wl['compact']['rss_mib']:.0f} MiB / {wl['reference']['load_s']:.1f} → "
        f"{wl['compact']['load_s']:.2f} s / {wl['reference']['us_per_lookup']:.2f} → "
        f"{wl['compact']['us_per_lookup']:.2f}"
        + ("" if wl["same_answers"] else " ANSWERS DIFFER"), "same answers", wl["same_answers"])
    rss = results["pipeline_1w"]["worker_rss_mib"]
    anon, mapped = (results["pipeline_1w"].get(f"worker_rss_{part}_each_mib", [0])[0] for part in ("anon", "file"))
    row("worker RSS after the 1-worker run, full warning lists (own heap + mapped files)",
        f"{rss:.0f} MiB ({anon:.0f} + {mapped:.0f})", f"≤ {TARGETS['worker_rss_mib']} MiB",
        rss <= TARGETS["worker_rss_mib"])
    fb = results["feedback"]
    row(f"feedback: {fb['sightings']:,} sightings on {fb['indicators']:,} records", f"{fb['per_s']:,.0f} ev/s",
        f"≥ {TARGETS['feedback_per_s']:,} ev/s", fb["per_s"] >= TARGETS["feedback_per_s"])
    state = results["state"]
    row("merge state on disk per million indicators", f"{state['disk_mib_per_million']:.0f} MiB", "", None)
    row(f"merge store RSS at {state['indicators']:,} indicators", f"{state['peak_rss_mib']:.0f} MiB", "< 1024 MiB",
        state["peak_rss_mib"] < 1024)
    bp = results["backpressure"]
    row(f"live p99 during a {bp['bulk_lane']['bulk']:,}-indicator import, bulk lane / same import on the live lane",
        f"{bp['bulk_lane']['p99_ms']:,.0f} / {bp['live_lane']['p99_ms']:,.0f} ms (no import: "
        f"{bp['baseline']['p99_ms']:,.0f})",
        "bulk lane ≤ 1000 ms", bp["bulk_lane"]["p99_ms"] <= TARGETS["p99_ms_at_5000"])
    row("bulk import rate, bulk lane / live lane", f"{bp['bulk_lane']['bulk_per_s']:,.0f} / "
        f"{bp['live_lane']['bulk_per_s']:,.0f} ind/s", "", None)
    taxii = results["taxii_store"]
    row(f"TAXII page of {taxii['page']:,} at the end of {taxii['objects']:,} objects / at the start",
        f"{taxii['last_pages_ms_median']:.1f} / {taxii['first_pages_ms_median']:.1f} ms", "last ≤ 2× first",
        taxii["last_over_first"] <= 2)
    if "intelmq" in results:
        peer = results["intelmq"]["events_per_s"]
        row("IntelMQ collector→parser→deduplicator", f"{peer:,.0f} ev/s", "", None)
        row("kizuna / IntelMQ", f"{best / peer:.1f}×", f"≥ {TARGETS['intelmq_ratio']}×",
            best / peer >= TARGETS["intelmq_ratio"])
    console.print(table)
    report_vulns(console, results["vulns"])


def report_vulns(console: Console, figures: dict[str, Any]) -> None:
    day, full = figures["day"], figures["catalogue"]
    table = Table("vulnerability matching (R8, in process)", "figure")
    table.add_row(f"a day of NVD changes ({day['advisories']:,}) vs {day['members']:,} members x "
                  f"{day['assets'] // day['members']} assets: notices, p50 / p99 per advisory",
                  f"{day['notices']:,}; {day['p50_ms']:.1f} / {day['p99_ms']:.0f} ms")
    table.add_row(f"{full['advisories']:,}-CVE catalogue: load, memory", f"{full['load_s']:.0f} s, "
                  f"{full['catalogue_rss_mib']:,} MiB (+ {day['index_rss_mib']:,} MiB for {day['assets']:,} assets)")
    table.add_row(f"a new list of {full['new_assets']} assets against it: notices, p50 / p99 per asset, whole list",
                  f"{full['notices']:,}; {full['p50_ms']:.1f} / {full['p99_ms']:.0f} ms; "
                  f"{full['list_total_ms']:,.0f} ms")
    console.print(table)


if __name__ == "__main__":
    main()
