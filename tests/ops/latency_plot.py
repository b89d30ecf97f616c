"""Benchmark run watched by a real Prometheus, plotted from Prometheus' HTTP API into docs/latency.png.

Two workers on four partitions take R indicators/s as small CSV submissions for S seconds
(paced on a schedule, as in tests/bench/latency.py); Prometheus scrapes both workers every
second. The plot shows, per 10 s window, the p50/p90/p99 of `kizuna_publish_latency_seconds`
(intake receipt to the broker's acknowledgement of the published record, as the Operations
dashboard shows it) and the records published per second. Percentiles come from the histogram
buckets, so they are interpolated within a bucket.

    .venv/bin/python -m tests.ops.latency_plot --rate 2000 --seconds 90     # needs the broker (make kafka)
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

from streams.settings import ROOT
from tests.bench.data import indicators
from tests.bench.latency import offer
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace
from tests.ops.prometheus import Prometheus

WINDOW = "10s"
QUANTILES = (0.5, 0.9, 0.99)


def series(prom: Prometheus, expr: str, start: float, end: float) -> tuple[list[float], list[float]]:
    result = prom.query_range(expr, start, end, step=1)
    if not result:
        return [], []
    points = [(float(t) - start, float(v)) for t, v in result[0]["values"] if v not in ("NaN", "+Inf")]
    return [t for t, _ in points], [v for _, v in points]


def plot(prom: Prometheus, start: float, end: float, out: Path, title: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency_axis, rate_axis) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(2, 1))
    figures = {}
    for q in QUANTILES:
        expr = f"histogram_quantile({q}, sum by (le) (rate(kizuna_publish_latency_seconds_bucket[{WINDOW}])))"
        times, values = series(prom, expr, start, end)
        latency_axis.plot(times, [v * 1000 for v in values], label=f"p{round(q * 100)}")
        figures[f"p{round(q * 100)}_ms_max"] = round(max(values, default=float("nan")) * 1000, 1)
        figures[f"p{round(q * 100)}_ms_median"] = round(sorted(values)[len(values) // 2] * 1000, 1) if values else None
    latency_axis.set_ylabel("intake to publication (ms)")
    latency_axis.set_yscale("log")
    latency_axis.legend(loc="upper right")
    latency_axis.grid(True, which="both", alpha=0.3)
    latency_axis.set_title(title)
    times, values = series(prom, f"sum(rate(kizuna_published_total[{WINDOW}]))", start, end)
    rate_axis.plot(times, values, color="tab:gray")
    rate_axis.set_ylabel("published / s")
    rate_axis.set_xlabel(f"seconds (Prometheus, {WINDOW} windows, 1 s scrapes)")
    rate_axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    figures["published_per_s_max"] = round(max(values, default=0.0))
    return figures


def run(rate: int, seconds: float, workdir: Path, workers: int = 2, partitions: int = 4,
        out: str = str(ROOT / "docs" / "latency.png")) -> dict:
    namespace = "p" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, workdir, partitions)
    envs = [namespace_env(settings, workdir / f"w{i}", store="rocksdb", partitions=str(partitions), warninglists="true")
            for i in range(workers)]
    procs = [Worker(env, workdir / f"worker{i}.log") for i, env in enumerate(envs)]
    prom = Prometheus(workdir / "prometheus", [f"127.0.0.1:{env['KIZUNA_METRICS_PORT']}" for env in envs]).start()
    try:
        for proc in procs:
            proc.start()
        time.sleep(3)
        start = time.time()
        offered = offer(Hub(settings, procs[0]), indicators(int(rate * seconds), duplicate_share=0.0, seed=rate), rate)
        time.sleep(15)  # the tail drains and is scraped
        end = time.time()
        title = f"{rate:,} indicators/s offered for {seconds:.0f} s, {workers} workers, {partitions} partitions"
        figures = plot(prom, start - 5, end, Path(out), title)
    finally:
        prom.stop()
        for proc in procs:
            proc.stop()
        drop_namespace(settings)
    return {"rate": rate, "offered_per_s": round(offered), "seconds": seconds, "workers": workers,
            "partitions": partitions, "png": out, **figures}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run, rate=2000, seconds=90.0)
