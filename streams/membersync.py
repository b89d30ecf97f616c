"""`kizuna members sync --follow`: the broker's logins and ACLs follow the events that change access,
within about a second of each, instead of a periodic poll.

What changes access: the registry (a member added or removed, a tier pinned or unpinned, a TLP
clearance or sectors edited: the members file is re-read when it changes on disk), standing
(a contribution on kizuna.reputation, or one leaving the window) and the end of a credential
rotation's overlap (the retired certificate's principal loses its ACLs). The reputation topic is followed
live into an in-memory book, so standing is recomputed each round without re-reading the topic,
and the broker is changed only when some member's (registry entry, tier) differs from what was
last applied. A full reconcile runs every `full_every_s` as well, to repair hand-made ACL edits.
A broker outage is waited out (streams.kafka_io.Outage); nothing else ends the loop but `stop`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams import access, credentials, members
from streams.core.reputation import Book
from streams.kafka_io import Outage, admin, client_config, create_topics, transient
from streams.settings import ConfigError, Settings
from streams.topics import Topics

log = logging.getLogger("kizuna.members")

# member id -> (registry entry, tier, principals holding its rules) as on the broker
Applied = dict[str, tuple[members.Member, str, list[str]]]


def follow(settings: Settings, stop: threading.Event, on_sync: Callable[[access.SyncReport, float], None],
           full_every_s: float = 300.0) -> None:
    """Apply access changes as they happen until `stop`; `on_sync(report, seconds it took)` after each."""
    outage = Outage("members-sync", log)
    while not stop.is_set():
        try:
            _follow(settings, stop, on_sync, full_every_s, outage)
        except KafkaException as exc:
            if not transient(exc):
                raise
            outage.wait(exc, stop)


def _principals(settings: Settings, member: str) -> list[str]:
    """Who holds the member's rules now (a rotation's overlap ending changes it); [] before issuing."""
    if not credentials.issued(settings, member):
        return []
    return credentials.principals(credentials.load(settings, member), time.time())


def _follow(settings: Settings, stop: threading.Event, on_sync: Callable[[access.SyncReport, float], None],
            full_every_s: float, outage: Outage) -> None:
    topics = Topics(settings.namespace)
    client = admin(settings)
    consumer = Consumer({**client_config(settings), "group.id": topics.recovery_group, "enable.auto.commit": False,
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topics.reputation, 0, OFFSET_BEGINNING)])
    book, caught_up, full_at, unreadable = Book(), False, 0.0, ""
    applied: Applied | None = None
    try:
        while not stop.is_set():
            for msg in consumer.consume(10_000, timeout=0.2 if caught_up else 1.0):
                error = msg.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    caught_up = True
                elif error is not None:
                    raise KafkaException(error)
                elif (value := msg.value()) is not None:
                    book.apply(orjson.loads(value))
            if not caught_up:  # standing from half the history would demote contributors for a moment
                continue
            try:
                registry = members.load(settings.members_file)
            except ConfigError as exc:  # mid-edit, or a mistake: the broker keeps what was last applied
                if str(exc) != unreadable:
                    log.error("%s; access unchanged until it is fixed", exc)
                    unreadable = str(exc)
                continue
            unreadable = ""
            tiers = access.standings(settings, registry, book)
            wanted: Applied = {m.id: (m, tiers[m.id].tier, _principals(settings, m.id)) for m in registry.members}
            if wanted == applied and time.monotonic() < full_at:
                continue
            started = time.monotonic()
            if applied is None or set(wanted) != set(applied):  # new members need their own topics first
                create_topics(settings, topics.plan(settings, list(wanted)))
            report = access.sync(settings, client, registry, tiers)
            applied, full_at = wanted, time.monotonic() + full_every_s
            outage.ok()
            on_sync(report, time.monotonic() - started)
    finally:
        consumer.close()
