"""Raw Kafka pass-through ceiling for this machine, with confluent-kafka.

Why: whatever kizuna's stream stages do per indicator, they cannot go faster than
"consume a record, produce it again" on the same broker and cores. This module
measures that ceiling so the real pipeline's figures have a reference point.

Three processes, as three services would be (each has its own GIL):

* producer:      writes N ~200-byte JSON indicators to ``bench.ceiling.in.<id>``
* pass-through:  consumes ``in`` and re-produces every record unchanged to ``out``
* reader:        consumes ``out`` until it has seen N records

Both consumers join their groups and get their partitions before the first
record is produced, so group-join time is not counted. Afterwards the
pass-through runs once more alone, replaying the already filled ``in`` topic
with a fresh group, which gives the stage's rate without the producer and the
reader competing for the two cores. Every producer is warmed up (producer id,
metadata) on a third topic ``bench.ceiling.warm.<id>`` before its clock starts.
Clock: ``time.monotonic()`` (CLOCK_MONOTONIC, shared by all processes on Linux).
Topics and consumer groups are deleted at the end.

Run: ``.venv/bin/python -m tests.bench.ceiling --n 200000``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing as mp
import queue
import time
import uuid
from collections.abc import Sequence
from multiprocessing.synchronize import Event
from typing import Any, TypeAlias

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.kafka_io import client_config
from streams.settings import get_settings

# Throughput-oriented but still safe settings (acks=all + idempotence, as a hub
# that must not lose or duplicate indicators would run): batches up to 256 KiB
# collected for up to 5 ms, lz4-compressed.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.size": 262_144,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 262_144,
}

# Auto-commit (every 5 s, asynchronous) as an at-least-once stage would use.
# fetch.queue.backoff.ms: librdkafka stops fetching for this long (default 1000 ms)
# once its local queue holds queued.min.messages (100k); one 1 MiB fetch of
# lz4-compressed 200-byte records decompresses to ~50k records, so with the
# default a consumer reading a backlog idles most of the time (~135k records/s
# instead of ~1.8M on this machine).
CONSUMER_CONFIG: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": True,
    "fetch.wait.max.ms": 50,
    "fetch.queue.backoff.ms": 10,
}

CONSUME_BATCH = 1000
# What each bench process hands back: (its role, its timestamps and counts).
Results: TypeAlias = "mp.Queue[tuple[str, dict[str, float]]]"
KINDS = ("ipv4-addr", "domain-name", "url", "file-sha256", "file-md5")


def make_records(n: int) -> list[tuple[bytes, bytes]]:
    """Build N (key, value) pairs shaped like a shared indicator (~200 bytes of JSON).

    Values come from a hash of the index so they are as incompressible as real
    hashes and addresses; sequential values would flatter lz4.
    """
    records = []
    for i in range(n):
        h = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
        kind = KINDS[i % len(KINDS)]
        value = {
            "ipv4-addr": ".".join(str(int(h[j : j + 2], 16)) for j in (0, 2, 4, 6)),
            "domain-name": f"{h[:12]}.example.com",
            "url": f"http://{h[:10]}.example.net/{h[10:22]}",
            "file-sha256": h,
            "file-md5": h[:32],
        }[kind]
        doc = {
            "id": f"indicator--{uuid.UUID(h[32:])}",
            "kind": kind,
            "value": value,
            "confidence": 80,
            "tlp": "green",
            "source": "bench",
            "valid_from": "2025-01-01T00:00:00Z",
        }
        records.append((value.encode(), json.dumps(doc, separators=(",", ":")).encode()))
    return records


def _flush(producer: Producer, failures: list[KafkaError]) -> float:
    """Wait until every record is acknowledged; returns the time it was."""
    if producer.flush(60) != 0 or failures:
        raise RuntimeError(f"undelivered records: {failures[:3]}")
    return time.monotonic()


def _new_producer(client: dict, failures: list[KafkaError], warm_topic: str, topic: str) -> Producer:
    """A warmed-up producer that records failed deliveries, as a real stage has to notice them.

    A fresh idempotent producer needs ~0.5 s to get its producer id before its
    first delivery; a long-running service has paid that long ago, so one record
    to the warm-up topic (and a metadata fetch for the real one) pays it before
    the clock starts.
    """

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    producer = Producer({**PRODUCER_CONFIG, **client, "on_delivery": on_delivery})
    producer.list_topics(topic, timeout=30)
    producer.produce(warm_topic, value=b"warm-up")
    _flush(producer, failures)
    return producer


def _send(producer: Producer, topic: str, key: bytes | None, value: bytes | None) -> None:
    """Produce one record, serving delivery reports while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.01)


def _producer_proc(client: dict, topic: str, warm_topic: str, n: int, results: Results) -> None:
    """Producer service: N records to ``topic``; reports first-produce and all-acked times."""
    records = make_records(n)
    failures: list[KafkaError] = []
    producer = _new_producer(client, failures, warm_topic, topic)
    t_first = time.monotonic()
    for key, value in records:
        _send(producer, topic, key, value)
        producer.poll(0)
    t_acked = _flush(producer, failures)
    results.put(("producer", {"t_first": t_first, "t_acked": t_acked}))


def _join(consumer: Consumer, topic: str, ready: Event, deadline: float) -> list[Message]:
    """Subscribe and poll until the group has handed this consumer its partitions.

    Returns the record that poll may already have fetched (possible when the topic
    is filled before the consumer starts), so that the caller counts it.
    """
    assigned: list[bool] = []
    consumer.subscribe([topic], on_assign=lambda _c, parts: assigned.append(bool(parts)))
    early: list[Message] = []
    while not any(assigned) and not early:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partitions of {topic} assigned")
        msg = consumer.poll(0.1)
        if msg is not None:
            early.append(msg)
    ready.set()
    return early


def _check(msg: Message) -> None:
    """Fail on a consumed error event instead of counting it as a record."""
    if msg.error():
        raise KafkaException(msg.error())


def _pass_through_proc(
    client: dict,
    topics: tuple[str, str, str],
    group: str,
    n: int,
    ready: Event,
    results: Results,
    timeout_s: float,
) -> None:
    """Pass-through service: consume ``src``, re-produce each record unchanged to ``dst``."""
    src, dst, warm_topic = topics
    deadline = time.monotonic() + timeout_s
    consumer = Consumer({**CONSUMER_CONFIG, **client, "group.id": group})
    failures: list[KafkaError] = []
    producer = _new_producer(client, failures, warm_topic, dst)
    batch = _join(consumer, src, ready, deadline)
    t_first = time.monotonic() if batch else 0.0
    seen = 0
    while True:
        for msg in batch:
            _check(msg)
            _send(producer, dst, msg.key(), msg.value())
        seen += len(batch)
        producer.poll(0)
        if seen >= n:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"pass-through saw {seen}/{n} records")
        batch = consumer.consume(CONSUME_BATCH, 0.1)
        if batch and not t_first:
            t_first = time.monotonic()
    t_acked = _flush(producer, failures)
    consumer.close()
    results.put(("pass_through", {"t_first": t_first, "t_acked": t_acked}))


def _reader_proc(
    client: dict, topic: str, group: str, n: int, ready: Event, results: Results, timeout_s: float
) -> None:
    """Final consumer: reads ``topic`` until N records arrived; reports the arrival of the last."""
    deadline = time.monotonic() + timeout_s
    consumer = Consumer({**CONSUMER_CONFIG, **client, "group.id": group})
    if _join(consumer, topic, ready, deadline):
        raise RuntimeError(f"record on {topic} before the benchmark started")
    seen = 0
    nbytes = 0
    while seen < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reader saw {seen}/{n} records")
        for msg in consumer.consume(CONSUME_BATCH, 0.1):
            _check(msg)
            seen += 1
            nbytes += len(msg.value() or b"")
    t_last = time.monotonic()
    consumer.close()
    results.put(("reader", {"t_last": t_last, "records": seen, "avg_bytes": nbytes / seen}))


def _create_topics(admin: AdminClient, names: list[str], partitions: int) -> None:
    """Create the bench topics and wait until the broker confirms them."""
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in names])
    for future in futures.values():
        future.result(timeout=30)


def _cleanup(admin: AdminClient, topics: list[str], groups: list[str]) -> None:
    """Delete the bench topics and consumer groups; best effort, never masks a bench error."""
    futures = [*admin.delete_topics(topics, operation_timeout=30).values()]
    futures += admin.delete_consumer_groups(groups, request_timeout=30).values()
    for future in futures:
        with contextlib.suppress(KafkaException):
            future.result(timeout=30)


def _collect(
    procs: Sequence[mp.process.BaseProcess], results: Results, timeout_s: float
) -> dict[str, dict[str, float]]:
    """Wait for every process's result; a process that died without one is an error."""
    out: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + timeout_s
    while len(out) < len(procs):
        try:
            name, figures = results.get(timeout=0.5)
            out[name] = figures
        except queue.Empty:
            dead = [p.name for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"bench processes failed or timed out: {dead or 'timeout'}") from None
    for p in procs:
        p.join()
    return out


def _wait_ready(events: list[Event], procs: Sequence[mp.process.BaseProcess], timeout_s: float) -> None:
    """Block until every consumer has its partitions (or one of them died)."""
    deadline = time.monotonic() + timeout_s
    while not all(e.is_set() for e in events):
        if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            raise RuntimeError("consumers did not get their partitions")
        time.sleep(0.02)


def run_ceiling(client: dict, n: int, partitions: int = 1) -> dict[str, Any]:
    """Measure end-to-end and pass-through records/s for N records; see the module docstring."""
    run_id = uuid.uuid4().hex[:10]
    src, dst, warm = (f"bench.ceiling.{role}.{run_id}" for role in ("in", "out", "warm"))
    groups = [f"bench.ceiling.{run_id}.{role}" for role in ("pass", "read", "replay")]
    timeout_s = 60 + n / 2000
    admin = AdminClient({**client})
    _create_topics(admin, [src, dst, warm], partitions)
    ctx = mp.get_context("spawn")
    try:
        results: Results = ctx.Queue()
        ready = [ctx.Event(), ctx.Event()]
        consumers = [
            ctx.Process(
                target=_pass_through_proc,
                args=(client, (src, dst, warm), groups[0], n, ready[0], results, timeout_s),
                name="pass_through",
            ),
            ctx.Process(
                target=_reader_proc, args=(client, dst, groups[1], n, ready[1], results, timeout_s), name="reader"
            ),
        ]
        for p in consumers:
            p.start()
        _wait_ready(ready, consumers, 60)
        producer = ctx.Process(target=_producer_proc, args=(client, src, warm, n, results), name="producer")
        producer.start()
        e2e = _collect([*consumers, producer], results, timeout_s)

        # Same stage again, alone: replays the filled `in` topic into `out` once more.
        replay_ready = ctx.Event()
        replay = ctx.Process(
            target=_pass_through_proc,
            args=(client, (src, dst, warm), groups[2], n, replay_ready, results, timeout_s),
            name="pass_through",
        )
        replay.start()
        alone = _collect([replay], results, timeout_s)["pass_through"]
    finally:
        _cleanup(admin, [src, dst, warm], groups)

    prod, pt, rd = e2e["producer"], e2e["pass_through"], e2e["reader"]
    e2e_s = rd["t_last"] - prod["t_first"]
    pt_s = pt["t_acked"] - pt["t_first"]
    alone_s = alone["t_acked"] - alone["t_first"]
    produce_s = prod["t_acked"] - prod["t_first"]
    return {
        "records": n,
        "partitions": partitions,
        "avg_record_bytes": round(rd["avg_bytes"], 1),
        "end_to_end_s": round(e2e_s, 3),
        "end_to_end_rps": round(n / e2e_s),
        "produce_s": round(produce_s, 3),
        "produce_rps": round(n / produce_s),
        "pass_through_in_e2e_s": round(pt_s, 3),
        "pass_through_in_e2e_rps": round(n / pt_s),
        "pass_through_alone_s": round(alone_s, 3),
        "pass_through_alone_rps": round(n / alone_s),
        "producer_config": {k: v for k, v in PRODUCER_CONFIG.items() if not k.startswith("queue.")},
    }


def main() -> None:
    """CLI: run the ceiling once and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run_ceiling(client_config(get_settings()), args.n, args.partitions), indent=2))


if __name__ == "__main__":
    main()
