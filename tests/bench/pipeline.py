"""Pipeline throughput and state size: realistic submissions through the real worker.

N indicators of mixed types with 30% duplicates, as STIX bundles, MISP events
and CSV files, are put on intake at once; the clock runs from the first
submission sent until a plain consumer has read every distinct indicator on the
share topic. Repeats come from the same member, so each distinct indicator is
exactly one record: the count is also a correctness check.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError

from streams.kafka_io import client_config
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import csv_file, indicators, submissions
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and its parts: RssAnon (the process's own heap), RssFile (mapped files: libraries, the
    shared warning-list file, whose pages the workers of a host share)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            found[name] = int(rest.split()[0])
    return found


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_pipeline(n: int, workdir: Path, workers: int = 1, partitions: int = 4, timeout: float = 600,
                 native: bool = True, submission_size: int | None = None) -> dict:
    """`native=False`: the workers run the reference Python of streams/core (KIZUNA_NATIVE=0).
    `submission_size`: CSV submissions of that many indicators each (the latency runs' shape) instead
    of the mix of 1,000-indicator bundles and events and 2,000-line CSVs."""
    namespace = "b" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, workdir, partitions)
    items = indicators(n)
    distinct = len(set(items))
    batch = submissions(items) if submission_size is None else [
        ("csv", csv_file(items[i:i + submission_size]), len(items[i:i + submission_size]))
        for i in range(0, n, submission_size)]
    procs = [Worker(namespace_env(settings, workdir / f"w{i}", store="rocksdb", partitions=str(partitions),
                                  warninglists="true", native="1" if native else "0"),
                    workdir / f"worker{i}.log") for i in range(workers)]
    for proc in procs:
        proc.start()
    hub = Hub(settings, procs[0])
    topic = hub.topics.contrib(TLP.GREEN, ALL)  # first delivery: general members get it once confirmed
    consumer = Consumer({**client_config(settings), "group.id": f"bench-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": 10})  # librdkafka's 1 s default stalls a backlog read
    consumer.subscribe([topic])
    consumer.poll(1.0)
    try:
        started = time.monotonic()
        for fmt, payload, _ in batch:
            hub.submit(payload, member="bench", tlp="green", fmt=fmt, flush=False)
        hub.publisher.flush_sync()
        sent = time.monotonic()
        seen: set[bytes] = set()
        records = 0
        while len(seen) < distinct and time.monotonic() - started < timeout:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error() is None:
                    if (msg.key() or b"").startswith(b"indicator--"):  # not the MISP events' reports
                        seen.add(msg.key())
                    records += 1
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(msg.error())
        finished = time.monotonic()
        elapsed = finished - started
        memory = [_memory_kib(p.proc.pid) for p in procs]
        states = [workdir / f"w{i}" / "state" for i in range(workers)]
        state_bytes = sum(_du(state) for state in states if state.exists())
    finally:
        consumer.close()
        for proc in procs:
            proc.stop()
        drop_namespace(settings)
    return {
        "indicators": n, "distinct": distinct, "submissions": len(batch), "records_read": records,
        "distinct_read": len(seen), "complete": len(seen) == distinct, "send_seconds": sent - started,
        "seconds": elapsed, "indicators_per_s": n / elapsed, "workers": workers, "partitions": partitions,
        "worker_rss_mib": sum(m["VmRSS"] for m in memory) / 1024,
        "worker_rss_each_mib": [round(m["VmRSS"] / 1024, 1) for m in memory],
        "worker_rss_anon_each_mib": [round(m["RssAnon"] / 1024, 1) for m in memory],
        "worker_rss_file_each_mib": [round(m["RssFile"] / 1024, 1) for m in memory],
        "state_disk_mib": state_bytes / 2**20,
        "state_disk_mib_per_million": state_bytes / 2**20 / distinct * 1e6,
    }


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_pipeline, n=200_000, workers=1)
