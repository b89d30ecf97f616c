"""Every worker's copy of the reputation book, kept current from kizuna.reputation.

Reputation is small (a few numbers per member) and read by every merge
partition, so each worker folds the whole topic in a background thread, like a
global table (the merge's streams.core.reputation.Trust). Events are idempotent by cause, so the worker's own events,
applied at once and read back later, count once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.core.reputation import Book, Event
from streams.kafka_io import client_config
from streams.settings import Settings
from streams.tlp import TLP
from streams.topics import Topics

log = logging.getLogger(__name__)


class ReputationFeed:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self.book = Book()
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            threading.Thread(target=self._follow, name="reputation-feed", daemon=True).start()

    def _follow(self) -> None:
        consumer = Consumer({**client_config(self.settings),
                             "group.id": Topics(self.settings.namespace).reputation_group, "enable.auto.commit": False,
                             "fetch.queue.backoff.ms": 10})
        partitions = consumer.list_topics(self.topic, timeout=30).topics[self.topic].partitions
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        while True:
            for msg in consumer.consume(1000, 1.0):
                error, value = msg.error(), msg.value()
                if error is None and value is not None:
                    self.apply([orjson.loads(value)])
                elif error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reputation feed: %s (librdkafka retries)", error.str())

    def apply(self, events: list[Event]) -> None:
        with self._lock:
            for event in events:
                self.book.apply(event)

    def weight(self, member: str, level: TLP) -> float:
        with self._lock:
            return self.book.weight(member, level)

    def groups(self, members: Iterable[str], level: TLP) -> dict[str, str]:
        with self._lock:
            return self.book.groups(members, level)
