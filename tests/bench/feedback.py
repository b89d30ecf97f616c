"""Feedback throughput: sightings absorbed and re-scored per second.

M indicators are shared first; then N sightings from several members, spread over
them, are put on kizuna.feedback at once, 200 to a message as a SIEM connector batches them. The clock
stops when the worker group has committed every feedback message and every merge batch they turned into, i.e.
each sighting was validated, routed to its record's partition, folded and scored.
"""
from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from streams.kafka_io import client_config
from streams.records import feedback_codec
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import csv_file, indicators
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace

MEMBERS = ("acme", "globex", "hooli", "stark", "wayne")
BATCH = 200


def _drained(settings, group: str, topics: list[str]) -> bool:
    consumer = Consumer({**client_config(settings), "group.id": group})
    try:
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            tps = [TopicPartition(topic, p) for p in partitions]
            for tp in consumer.committed(tps, timeout=10):
                if tp.offset < consumer.get_watermark_offsets(tp, timeout=10)[1]:
                    return False
        return True
    finally:
        consumer.close()


def run_feedback(n: int, indicators_count: int, workdir: Path, workers: int = 2, partitions: int = 4) -> dict:
    namespace = "f" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, workdir, partitions)
    values = [v for _, v in indicators(indicators_count, duplicate_share=0.0, seed=3)]
    procs = [Worker(namespace_env(settings, workdir / f"w{i}", store="rocksdb", partitions=str(partitions)),
                    workdir / f"fb-worker{i}.log") for i in range(workers)]
    for proc in procs:
        proc.start()
    hub = Hub(settings, procs[0])
    try:
        items = [("domain-name" if "." in v and "/" not in v else "", v) for v in values]
        for start in range(0, len(items), 2000):
            hub.submit(csv_file([("", v) for _, v in items[start:start + 2000]]), member="bench", tlp="green",
                       fmt="csv", flush=False)
        hub.publisher.flush_sync()
        hub.read(hub.topics.contrib(TLP.GREEN, ALL), expect=len(values), settle=0.5, timeout=300)
        rng, codec = random.Random(5), feedback_codec()
        items = [hub.signed_feedback(rng.choice(values), rng.choice(MEMBERS), "sighting", rng.randint(1, 5))
                 for _ in range(n)]
        # As a SIEM connector sends them: a batch per flush, here 200 sightings a message.
        payloads = [(codec.encode({"items": items[i:i + BATCH]}), items[i]["feedback_id"].encode())
                    for i in range(0, n, BATCH)]
        started = time.monotonic()
        for value, key in payloads:
            hub.publisher.send(hub.topics.feedback, value, key)
        hub.publisher.flush_sync()
        sent = time.monotonic()
        while not _drained(settings, hub.topics.worker_group, [hub.topics.feedback, hub.topics.indicators]):
            time.sleep(0.25)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            proc.stop()
        drop_namespace(settings)
    return {"sightings": n, "indicators": len(values), "send_seconds": sent - started, "seconds": elapsed,
            "per_s": n / elapsed, "workers": workers}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_feedback, n=100_000, indicators_count=20_000)
