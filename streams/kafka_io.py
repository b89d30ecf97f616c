"""confluent-kafka clients: the fast producer the agents publish with, topic admin, plain reading.

Faust (aiokafka) consumes and commits; publishing goes through librdkafka, which
is an order of magnitude faster than aiokafka's producer on this hardware. An
agent acknowledges an event only after `flush` has seen every send delivered,
so offsets are never committed past unpublished output (at-least-once).
"""
from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streams.constants import MAX_MESSAGE_BYTES, REQUEST_TIMEOUT_S
from streams.settings import Settings
from streams.topics import Topics, TopicSpec

LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # list_offsets: each partition's end


def client_config(settings: Settings, member: str | None = None) -> dict[str, Any]:
    """librdkafka settings to reach the brokers as this process (`member=None`) or as a member,
    with the credentials the hub issued to it. Every client is built from this: SCRAM over TLS,
    the broker's certificate checked against the hub's CA (and its name against the address).
    librdkafka's own log lines (a broker down, a login refused) go to the `librdkafka` Python
    logger, not raw to stderr."""
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers, "logger": LIBRDKAFKA_LOG}
    if settings.kafka_security == "plaintext":
        return config
    ca_pem = None
    if member is None:
        user, password = settings.kafka_user, settings.kafka_secret()
    else:
        from streams import credentials

        creds = credentials.load(settings, member)
        user, password, ca_pem = creds.kafka_user, creds.kafka_password, creds.ca_cert
    config.update({"security.protocol": settings.kafka_security.upper(), "sasl.mechanism": "SCRAM-SHA-512",
                   "sasl.username": user, "sasl.password": password})
    if settings.kafka_security == "sasl_ssl":
        config["ssl.endpoint.identification.algorithm"] = "https"
        if ca_pem is not None and settings.kafka_ca_file is None:
            config["ssl.ca.pem"] = ca_pem  # a member's machine: the CA came in its credentials file
        else:
            config["ssl.ca.location"] = str(settings.ca_file())
    return config


def where(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a message a consumer delivered: set on every one, though the
    client's type hints make each optional."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS context of the Python (aiokafka) clients: the hub's CA, host names checked."""
    return ssl.create_default_context(cafile=str(settings.ca_file()))


class DeliveryFailed(RuntimeError):
    """The broker did not take a record; the agent stops rather than commit past it."""


class Publisher:
    """One librdkafka producer per worker, with delivery errors surfaced at flush."""

    def __init__(self, settings: Settings, client_id: str, member: str | None = None) -> None:
        self._producer = Producer({
            **client_config(settings, member),
            "client.id": client_id,
            "linger.ms": settings.producer_linger_ms,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "acks": "all",
            "enable.idempotence": True,
            "message.max.bytes": MAX_MESSAGE_BYTES,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 65_536,  # librdkafka's 1 GiB default: send() waits instead
            # Only failed deliveries call back into Python: a callback per record cost ~1 µs and a
            # Message object each; flush still waits for every record.
            "on_delivery": self._delivered,
            "delivery.report.only.error": True,
        })
        self._errors: list[str] = []

    def _delivered(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err.str()}")

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key)
                else:
                    self._producer.produce(topic, value, key, partition=partition)
                return
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.05)

    def poll(self) -> None:
        """Serve delivery callbacks without waiting (for long-running senders)."""
        self._producer.poll(0)

    def flush_sync(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryFailed(f"{remaining} records not delivered within {timeout:.0f} s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryFailed("; ".join(errors[:5]))

    async def flush(self, timeout: float = 60.0) -> None:
        """Wait for every send so far, off the event loop so heartbeats continue."""
        await asyncio.get_running_loop().run_in_executor(None, self.flush_sync, timeout)


def admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings))


def create_topics(settings: Settings, specs: list[TopicSpec]) -> tuple[list[str], list[str]]:
    """Create what is missing; returns (created, already there). Raises on other errors."""
    client = admin(settings)
    existing = set(client.list_topics(timeout=15).topics)
    wanted = [s for s in specs if s.name not in existing]
    created = []
    if wanted:
        futures = client.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1, config=s.config) for s in wanted],
            request_timeout=REQUEST_TIMEOUT_S,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    return created, sorted(s.name for s in specs if s.name in existing)


class CommittedOffsets:
    """The committed offsets of consumer groups, read through a consumer handle of each group (which never
    subscribes, so it does not join the group), not through the admin API.

    Why not `AdminClient.list_consumer_group_offsets`: when the group's coordinator has just moved (a broker
    stopped, restarted, or rejoined after losing its disk) the broker answers NOT_COORDINATOR, and
    librdkafka's admin client then asks a group handle it does not have to look the coordinator up again: a
    NULL dereference in `rd_kafka_cgrp_op` that kills the whole process with SIGSEGV
    (confluentinc/librdkafka#5040, open; fix proposed in #5318; present in librdkafka 2.16.0, which
    confluent-kafka 2.16.1 bundles). A consumer of the group has that handle and looks the new coordinator
    up. One consumer per group, kept while the group is asked about (its connections are reused)."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        self._config = {**client_config(settings), "client.id": client_id, "enable.auto.commit": False,
                        "enable.auto.offset.store": False}
        self._consumers: dict[str, Consumer] = {}

    def read(self, group: str, partitions: list[TopicPartition], timeout: float) -> dict[tuple[str, int], int]:
        """(topic, partition) -> the group's committed offset, for those of `partitions` it committed.
        Raises KafkaException (e.g. timed out while the coordinator moves)."""
        consumer = self._consumers.get(group)
        if consumer is None:
            consumer = self._consumers[group] = Consumer({**self._config, "group.id": group})
        if not partitions:
            return {}
        return {(tp.topic or "", tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=timeout)
                if tp.error is None and tp.offset >= 0}

    def keep(self, groups: set[str]) -> None:
        """Close the consumers of groups no longer asked about."""
        for group in set(self._consumers) - groups:
            self._consumers.pop(group).close()


# Errors a moment's patience cures: a leader election (a topic created a moment ago) or a broker
# restarting. librdkafka reconnects by itself; the reader waits rather than fail recovery.
_PASSING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE,
            KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC}


def transient(exc: KafkaException) -> bool:
    """A broker away or electing a leader (patience cures it), not a refusal (credentials, ACLs, config)."""
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    return error is not None and (error.code() in _PASSING or error.retriable())


class Outage:
    """How a long-running process (member sync, SIEM export --follow, TAXII materialiser) waits out a
    broker that is away: retries with exponential backoff (capped, jittered), one log line when the
    outage starts and one when it ends, and `kizuna_broker_waiting{process}` = 1 meanwhile."""

    def __init__(self, process: str, log: logging.Logger, first_s: float = 0.5, most_s: float = 15.0) -> None:
        from streams.metrics import BROKER_OUTAGES, BROKER_WAITING

        self.process, self.log, self.first_s, self.most_s = process, log, first_s, most_s
        self._gauge, self._count = BROKER_WAITING.labels(process), BROKER_OUTAGES.labels(process)
        self._gauge.set(0)
        self.since: float | None = None
        self._tries = 0

    def wait(self, exc: Exception, stop: threading.Event | None = None) -> None:
        """Called after a transient failure: logs if this starts an outage, then sleeps the backoff."""
        if self.since is None:
            self.since = time.monotonic()
            self._gauge.set(1)
            self._count.inc()
            self.log.warning("%s: Kafka unavailable (%s); retrying with backoff until it is back", self.process, exc)
        delay = min(self.most_s, self.first_s * 2 ** self._tries) * random.uniform(0.8, 1.2)
        self._tries += 1
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)

    def ok(self) -> None:
        """Called after a success: ends the outage, if there was one."""
        if self.since is not None:
            self.log.warning("%s: Kafka is back after %.1f s", self.process, time.monotonic() - self.since)
            self.since, self._tries = None, 0
            self._gauge.set(0)


# How long state recovery waits for a broker that is away before the agent gives up (and its supervisor
# restarts it): a broker restart took 139 s on a loaded 2-core machine, past the 120 s this once was.
RECOVERY_PATIENCE_S = 600.0


def _watermarks(consumer: Consumer, partition: TopicPartition,
                patience_s: float = RECOVERY_PATIENCE_S) -> tuple[int, int]:
    """Low and high offsets, waiting out a leader election or a broker restart."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=10)
        except KafkaException as exc:
            if exc.args[0].code() not in _PASSING or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            try:  # a consumer made while the broker was away caches "no such topic": ask again
                consumer.list_topics(partition.topic, timeout=5)
            except KafkaException:
                pass


def read_partition(settings: Settings, topic: str, partition: int,
                   patience_s: float = RECOVERY_PATIENCE_S) -> Iterator[tuple[bytes, bytes | None]]:
    """Every (key, value) of one partition from the start to the current end (state recovery).
    Waits out a broker restart for up to `patience_s` without progress, then raises."""
    consumer = Consumer({
        **client_config(settings),
        "group.id": Topics(settings.namespace).recovery_group,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.queue.backoff.ms": 10,  # librdkafka pauses 1 s at 100k queued records by default
    })
    try:
        low, high = _watermarks(consumer, TopicPartition(topic, partition), patience_s)
        if high <= low:
            return
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        stalled_since = time.monotonic()
        while True:
            for msg in consumer.consume(10_000, timeout=0.2):  # returns what has arrived, at most 0.2 s later
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    if error.code() not in _PASSING:
                        raise KafkaException(error)
                    continue
                stalled_since = time.monotonic()
                yield msg.key() or b"", msg.value()
                if (msg.offset() or 0) >= high - 1:
                    return
            if time.monotonic() - stalled_since > patience_s:
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                                f"no progress reading {topic} for {patience_s:.0f} s"))
    finally:
        consumer.close()
