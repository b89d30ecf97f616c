"""Back-pressure: a bulk import of a million indicators must not delay a live submission's delivery.

Two runs side by side, each in a fresh namespace with two workers. During each, a bulk import
of N indicators (CSV submissions of 100,000) goes in while a live probe (one new indicator)
is submitted every 250 ms; a consumer in another process times each probe from submission to
its record on the contributor topic. Run "live-lane": the bulk import is sent on the live
intake topic, as a hub without lanes would take it. Run "bulk-lane": it goes on the bulk lane,
whose agent publishes only while the merge backlog is small. A baseline of probes with no bulk
load comes first.
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from pathlib import Path

import orjson

from streams.core.stix_out import EXTENSION_ID
from streams.kafka_io import client_config
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import csv_file
from tests.bench.latency import _epoch_ms, _percentile, tail
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace

CHUNK = 100_000
PROBE_EVERY_S = 0.25


def _reader(client: dict, topic: str, bulk: int, deadline: float, out: mp.Queue, ready: mp.Event) -> None:
    """Probe latencies, and when the last bulk record arrived."""
    consumer = tail(client, topic, ready)
    probes: list[float] = []
    seen_bulk, bulk_done = 0, None
    while time.time() < deadline and (bulk_done is None if bulk else len(probes) < 60):
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is not None:
                continue
            value = msg.value()
            if b"probe-" in value:
                record = orjson.loads(value)
                probes.append(time.time() * 1000 - _epoch_ms(record["extensions"][EXTENSION_ID]["first_seen"]))
            elif b"bulk-" in value:
                seen_bulk += 1
                if seen_bulk >= bulk:
                    bulk_done = time.time()
    consumer.close()
    out.put((probes, seen_bulk, bulk_done))


def _run(mode: str, n: int, workdir: Path, workers: int, partitions: int) -> dict:
    namespace = "bp" + uuid.uuid4().hex[:8]
    settings = open_namespace(namespace, workdir, partitions)
    procs = [Worker(namespace_env(settings, workdir / f"w{i}", store="rocksdb", partitions=str(partitions)),
                    workdir / f"{mode}-worker{i}.log") for i in range(workers)]
    for proc in procs:
        proc.start()
    hub = Hub(settings, procs[0])
    ctx = mp.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(client_config(settings), hub.topics.contrib(TLP.GREEN, ALL), n,
                                              time.time() + 900, out, ready))
    reader.start()
    ready.wait(60)

    def bulk() -> None:
        for start in range(0, n, CHUNK):
            values = [("domain", f"bulk-{i}.example") for i in range(start, min(n, start + CHUNK))]
            hub.submit(csv_file(values), member="bench", tlp="green", fmt="csv", bulk=mode == "bulk-lane",
                       flush=False)
        hub.publisher.flush_sync()

    try:
        started = time.time()
        sender = threading.Thread(target=bulk) if n else None
        if sender:
            sender.start()
        probe = 0
        while (probe * PROBE_EVERY_S < 15) if not n else reader.is_alive():
            hub.submit(f"value\nprobe-{uuid.uuid4().hex}.example\n".encode(), member="bench", tlp="green", fmt="csv")
            probe += 1
            time.sleep(PROBE_EVERY_S)
            if not n and probe >= 60:
                break
        if sender:
            sender.join()
        probes, seen_bulk, bulk_done = out.get(timeout=120)
    finally:
        reader.join(10)
        for proc in procs:
            proc.stop()
        drop_namespace(settings)
    figures = {"mode": mode, "bulk": n, "probes": len(probes), "p50_ms": _percentile(probes, 0.5),
               "p95_ms": _percentile(probes, 0.95), "p99_ms": _percentile(probes, 0.99),
               "max_ms": max(probes, default=float("nan"))}
    if n:
        figures.update({"bulk_published": seen_bulk, "bulk_s": (bulk_done or time.time()) - started,
                        "bulk_per_s": seen_bulk / ((bulk_done or time.time()) - started)})
    return figures


def run_backpressure(n: int, workdir: Path, workers: int = 2, partitions: int = 4) -> dict:
    baseline = _run("no-bulk", 0, workdir / "base", workers, partitions)
    live = _run("live-lane", n, workdir / "live", workers, partitions)
    lanes = _run("bulk-lane", n, workdir / "bulk", workers, partitions)
    return {"baseline": baseline, "live_lane": live, "bulk_lane": lanes,
            "p99_live_over_bulk_lane": live["p99_ms"] / lanes["p99_ms"]}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_backpressure, n=1_000_000)
