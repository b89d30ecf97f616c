"""Materialise the share, contrib and inbox topics into the TAXII store, one collection per topic.

Reads as the hub's own principal (`client_config(settings)`) with assigned partitions and the
positions kept in the store itself: objects and positions are written in one transaction, so
a restart continues exactly where the store stands, with nothing skipped and nothing twice.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connectors.taxii.store import ObjectStore
from streams import kafka_io, members
from streams.kafka_io import Outage, client_config, transient
from streams.sectors import ALL, SECTORS
from streams.settings import Settings
from streams.topics import SECTOR_TOPIC_LEVELS, Topics

log = logging.getLogger("kizuna.taxii")

# Collection ids are uuid5s of the topic name in this namespace: stable across restarts and stores.
_COLLECTION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:kizuna:taxii:collection")
STORE_GROUP = "taxii-store"


def collection_id(topic: str) -> str:
    return str(uuid.uuid5(_COLLECTION_NAMESPACE, topic))


def stix_topics(topics: Topics, member_ids: list[str]) -> list[str]:
    """The topics that carry STIX records: share and contrib of every level and sector, and inboxes."""
    return [*topics.share_topics(), *topics.contrib_topics(), *(topics.inbox(m) for m in member_ids)]


def titles(topics: Topics) -> dict[str, str]:
    """What each sector topic carries, as a collection title: 'TLP:GREEN finance (confirmed)'."""
    out = {}
    for level in SECTOR_TOPIC_LEVELS:
        for sector in (*SECTORS, ALL):
            audience = f"{level.label} {'whole community' if sector == ALL else sector}"
            out[topics.share(level, sector)] = f"{audience} (confirmed)"
            out[topics.contrib(level, sector)] = f"{audience} (contributors: every record, with its status)"
    return out


@dataclass
class Progress:
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    tombstones: int = 0
    unusable: int = 0


class Materializer:
    """Copies records from the topics into the store; `run` catches up, or follows until stopped."""

    def __init__(self, settings: Settings, store: ObjectStore, batch: int = 5000) -> None:
        self.settings, self.store, self.batch = settings, store, batch
        self.topics = Topics(settings.namespace)
        self.progress = Progress()

    def _wanted(self, existing: set[str]) -> list[str]:
        member_ids = [m.id for m in members.load(self.settings.members_file).members]
        return [t for t in stix_topics(self.topics, member_ids) if t in existing]

    def _assign(self, consumer: Consumer, assigned: set[tuple[str, int]]) -> set[tuple[str, int]]:
        """Assign partitions of wanted topics not yet assigned (new members' inboxes appear later)."""
        metadata = consumer.list_topics(timeout=15)
        positions = self.store.positions()
        new = [TopicPartition(topic, part, positions.get((topic, part), OFFSET_BEGINNING))
               for topic in self._wanted(set(metadata.topics))
               for part in metadata.topics[topic].partitions if (topic, part) not in assigned]
        if new:
            consumer.incremental_assign(new)
        return {(tp.topic, tp.partition) for tp in new}

    def run(self, follow: bool = False, stop: threading.Event | None = None,
            on_batch: Callable[[Progress], None] | None = None, rescan_s: float = 30.0) -> Progress:
        """Catch up to the end of every topic (or, with `follow`, keep going until `stop` is set)."""
        stop = stop or threading.Event()
        consumer = Consumer({
            **client_config(self.settings),
            "group.id": self.topics.hub_group(STORE_GROUP),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.queue.backoff.ms": 10,
        })
        try:
            assigned = self._assign(consumer, set())
            at_end: set[tuple[str, int]] = set()
            rescan_at = time.monotonic() + rescan_s
            while not stop.is_set():
                self._consume(consumer, at_end)
                if on_batch is not None:
                    on_batch(self.progress)
                if not follow and at_end >= assigned:
                    break
                if follow and time.monotonic() > rescan_at:
                    assigned |= self._assign(consumer, assigned)
                    rescan_at = time.monotonic() + rescan_s
        finally:
            consumer.close()
        return self.progress

    def _consume(self, consumer: Consumer, at_end: set[tuple[str, int]]) -> None:
        objects: list[tuple[str, bytes]] = []
        where: list[str] = []
        positions: dict[tuple[str, int], int] = {}
        for msg in consumer.consume(self.batch, timeout=0.5):
            error, (topic, partition, offset), value = msg.error(), kafka_io.where(msg), msg.value()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((topic, partition))
                    continue
                raise KafkaException(error)
            at_end.discard((topic, partition))
            positions[(topic, partition)] = offset + 1
            self.progress.read += 1
            if value is None:  # a compaction tombstone: nothing to serve
                self.progress.tombstones += 1
                continue
            objects.append((collection_id(topic), value))
            where.append(f"collection {objects[-1][0]} (partition {partition}, offset {offset})")
        if not positions:
            return
        result = self.store.add(objects, positions)
        self.progress.inserted += result.inserted
        self.progress.duplicates += result.duplicates
        self.progress.unusable += len(result.unusable)
        for index, reason in result.unusable:
            # Named by collection id, not topic: an inbox topic's name carries a member id (DESIGN rule 3).
            log.warning("record in %s is not a STIX object the store can serve (%s); skipped", where[index], reason)


def keep_following(settings: Settings, store: ObjectStore, stop: threading.Event,
                   on_batch: Callable[[Progress], None] | None = None, retry_s: float = 5.0,
                   progress: Progress | None = None) -> Progress:
    """Follow the topics into the store until `stop`, never ending on an error: a broker outage is
    waited out (streams.kafka_io.Outage), anything else is logged and retried after `retry_s`.
    Counts accumulate in `progress` across the restarts."""
    outage, done = Outage("taxii-materialize", log), progress or Progress()

    def progressed(progress: Progress) -> None:
        outage.ok()
        if on_batch is not None:
            on_batch(progress)

    while not stop.is_set():
        materializer = Materializer(settings, store)
        materializer.progress = done
        try:
            materializer.run(follow=True, stop=stop, on_batch=progressed)
        except KafkaException as exc:
            if transient(exc):
                outage.wait(exc, stop)
            else:
                log.error("materialising the TAXII store stopped: Kafka: %s; retrying in %.0f s", exc, retry_s)
                stop.wait(retry_s)
        except Exception:  # noqa: BLE001 - the server keeps answering from the store it has
            log.exception("materialising the TAXII store failed; retrying in %.0f s", retry_s)
            stop.wait(retry_s)
    return done


class Follower(threading.Thread):
    """The materialiser in the background of `kizuna taxii serve`."""

    def __init__(self, settings: Settings, store_url: str) -> None:
        super().__init__(name="taxii-materialize", daemon=True)
        self.settings, self.store_url = settings, store_url
        self.stop = threading.Event()

    def run(self) -> None:
        store = ObjectStore(self.store_url)  # its own connection, in this thread
        try:
            keep_following(self.settings, store, self.stop)
        finally:
            store.close()
