"""Submission-to-subscriber latency at a fixed offered rate, measured by a separate consumer.

A producer offers R indicators/s as small CSV submissions (50 indicators each,
paced on a schedule, not "as fast as possible"); a consumer in another process
reads the share topic and takes, for each record, the time it became readable
minus the time the submission was sent (the record's `first_seen`, which is the
intake receipt time the producer stamped). Same machine, same clock.
"""
from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson
from confluent_kafka import Consumer

from streams.core.stix_out import EXTENSION_ID
from streams.kafka_io import client_config
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import csv_file, indicators
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace

PER_SUBMISSION = 50


def _epoch_ms(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000


def tail(client: dict, topic: str, ready: mp.Event) -> Consumer:
    """A low-latency consumer at the end of `topic`, assigned before `ready` is set."""
    consumer = Consumer({**client, "group.id": f"lat-{uuid.uuid4()}", "auto.offset.reset": "latest",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10, "fetch.queue.backoff.ms": 10})
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.1)
    ready.set()
    return consumer


def offer(hub: Hub, items: list[tuple[str, str]], rate: int) -> float:
    """Send `items` as CSV submissions of PER_SUBMISSION at `rate` indicators/s on a fixed schedule
    (not as fast as possible); returns the rate actually offered."""
    interval, started = PER_SUBMISSION / rate, time.monotonic()
    for n, start in enumerate(range(0, len(items), PER_SUBMISSION)):
        delay = started + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        hub.submit(csv_file(items[start:start + PER_SUBMISSION]), member="bench", tlp="green", fmt="csv", flush=False)
        hub.publisher.poll()
    hub.publisher.flush_sync()
    return len(items) / (time.monotonic() - started)


def _reader(client: dict, topic: str, expect: int, deadline: float, out: mp.Queue, ready: mp.Event) -> None:
    consumer = tail(client, topic, ready)
    latencies: list[float] = []
    while len(latencies) < expect and time.time() < deadline:
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is None:
                now = time.time() * 1000
                first_seen = orjson.loads(msg.value())["extensions"][EXTENSION_ID]["first_seen"]
                latencies.append(now - _epoch_ms(first_seen))
    consumer.close()
    out.put(latencies)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_latency(rate: int, seconds: float, workdir: Path, workers: int = 2, partitions: int = 4) -> dict:
    namespace = "l" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, workdir, partitions)
    total = int(rate * seconds)
    items = indicators(total, duplicate_share=0.0, seed=rate)
    procs = [Worker(namespace_env(settings, workdir / f"w{i}", store="rocksdb", partitions=str(partitions),
                                  warninglists="true"),
                    workdir / f"lat-worker{i}.log") for i in range(workers)]
    for proc in procs:
        proc.start()
    hub = Hub(settings, procs[0])
    ctx = mp.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(client_config(settings), hub.topics.contrib(TLP.GREEN, ALL), total,
                                              time.time() + seconds + 60, out, ready))
    reader.start()
    ready.wait(60)
    try:
        offered = offer(hub, items, rate)
        latencies = out.get(timeout=seconds + 120)
    finally:
        reader.join(10)
        for proc in procs:
            proc.stop()
        drop_namespace(settings)
    return {"rate": rate, "offered_per_s": offered, "seconds": seconds, "records": len(latencies), "expected": total,
            "p50_ms": _percentile(latencies, 0.50), "p95_ms": _percentile(latencies, 0.95),
            "p99_ms": _percentile(latencies, 0.99), "max_ms": max(latencies, default=float("nan"))}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_latency, rate=5000, seconds=60.0)
