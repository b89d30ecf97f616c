"""The streaming SIEM connector: one member's topics, read as that member, fed to one output.

It reads exactly the share, contrib and inbox topics the member may read now
(`streams.access.readable_topics`, the list its broker ACLs grant) with the member's own
Kafka login and a consumer group under the member's prefix, so the broker enforces the same
policy a second time. Topics are assigned, not subscribed: one exporter holds every partition,
which a blocklist needs to be whole.

One-shot: read every topic from the start to its current end (compacted topics hold the
current version of every record), write the output once, stop. `follow`: keep reading; the
output is written after each batch and only then are the batch's offsets committed, so a crash
repeats records (harmless: ids are stable) and never skips one. A blocklist starts from the
beginning on every run (the topics are its state); ECS and CEF events resume from the
group's committed offsets. Access is looked at again as the exporter runs: topics the member
gains are read from their start, what only a lost topic gave leaves the output.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Protocol

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from connectors.siem import cef, ecs
from connectors.siem.blocklist import Blocklist, write_atomically
from connectors.siem.indicator import BadRecord, Current, Indicator, from_record
from connectors.siem.settings import SiemSettings
from streams import access, kafka_io
from streams.kafka_io import Outage, client_config, transient
from streams.settings import Settings
from streams.topics import Topics

Clock = Callable[[], datetime]
SHOWN_PROBLEMS = 20  # unreadable records named one by one; past that only counted
log = logging.getLogger("kizuna.siem")
NO_ANSWER_S = 30.0  # a one-shot read that gets neither a record nor the end for this long gives up


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ExportFailed(RuntimeError):
    """Kafka refused or did not answer; the message says what, and nothing was committed past it."""


@dataclass
class Tally:
    records: int = 0
    indicators: int = 0
    other_objects: int = 0  # malware, relationships, tombstones ...: not matter for a SIEM
    unreadable: int = 0
    problems: list[str] = field(default_factory=list)  # the first SHOWN_PROBLEMS, "topic[partition]@offset: why"
    missing_topics: list[str] = field(default_factory=list)
    written: int = 0  # documents, lines or listed indicators in the last write

    def problem(self, where: str, why: str) -> None:
        self.unreadable += 1
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(f"{where}: {why}")


class Output(Protocol):
    name: str  # names the consumer group: <member prefix>siem-<name>
    needs_history: bool  # rebuilt from the start of every topic on each run

    def apply(self, topic: str, indicator: Indicator, now: datetime) -> None: ...

    def flush(self, now: datetime) -> int | None:
        """Write what was applied; how many items were written, None if nothing needed writing."""

    def drop_topic(self, topic: str, now: datetime) -> None: ...

    def close(self) -> None: ...


class _Events:
    """ECS and CEF: one-shot, the live indicators of the current set; following, one event per
    version as it arrives, revocations included."""

    needs_history = False

    def __init__(self, follow: bool) -> None:
        self.follow = follow
        self._current = Current()
        self._pending: list[Indicator] = []

    def apply(self, topic: str, indicator: Indicator, now: datetime) -> None:
        if self.follow:
            self._pending.append(indicator)
        else:
            self._current.apply(topic, indicator)

    def drop_topic(self, topic: str, now: datetime) -> None:
        self._current.drop_topic(topic)

    def flush(self, now: datetime) -> int | None:
        if self.follow:
            batch, self._pending = self._pending, []
            if not batch:
                return None
        else:
            batch = self._current.live(now, unconfirmed=True)
        self._emit([self._render(indicator, now) for indicator in batch])
        return len(batch)

    def _render(self, indicator: Indicator, now: datetime) -> bytes:
        raise NotImplementedError

    def _emit(self, items: list[bytes]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class EcsOutput(_Events):
    """NDJSON documents: one-shot replaces `path`, following appends to it; None: standard output."""

    name = "ecs"

    def __init__(self, path: Path | None, provider: str, follow: bool, stdout: IO[bytes] | None = None) -> None:
        super().__init__(follow)
        self.path, self.provider = path, provider
        self._stdout = stdout or sys.stdout.buffer

    def _render(self, indicator: Indicator, now: datetime) -> bytes:
        return orjson.dumps(ecs.document(indicator, now, self.provider)) + b"\n"

    def _emit(self, items: list[bytes]) -> None:
        if self.path is None:
            self._stdout.write(b"".join(items))
            self._stdout.flush()
        elif self.follow:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as out:
                out.write(b"".join(items))
                out.flush()
                os.fsync(out.fileno())
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, b"".join(items).decode())


class CefOutput(_Events):
    """CEF lines in RFC 5424 syslog messages to a receiver, or bare CEF lines on standard output."""

    name = "cef"

    def __init__(self, sender: cef.SyslogSender | None, hostname: str, facility: int, follow: bool,
                 stdout: IO[bytes] | None = None) -> None:
        super().__init__(follow)
        self.sender, self.hostname, self.facility = sender, hostname, facility
        self._stdout = stdout or sys.stdout.buffer

    def _render(self, indicator: Indicator, now: datetime) -> bytes:
        text = cef.line(indicator, now)
        if self.sender is None:
            return text.encode() + b"\n"
        return cef.rfc5424(text, indicator.modified, self.hostname, self.facility)

    def _emit(self, items: list[bytes]) -> None:
        if self.sender is None:
            self._stdout.write(b"".join(items))
            self._stdout.flush()
        elif items:
            self.sender.send(items)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()


class BlocklistOutput:
    """Plain lists per kind and a Suricata rules file in `out_dir`, rewritten when they change."""

    name = "blocklist"
    needs_history = True

    def __init__(self, out_dir: Path, sid_base: int, unconfirmed: bool) -> None:
        self.out_dir, self.sid_base = out_dir, sid_base
        self.blocklist = Blocklist(unconfirmed)
        self.unlistable: set[str] = set()  # ids of complex patterns: no single value to list, said in the summary
        self._dirty = True  # the first flush always writes, an empty list included

    def apply(self, topic: str, indicator: Indicator, now: datetime) -> None:
        change = self.blocklist.apply(topic, indicator, now)
        if change == "unlistable":
            self.unlistable.add(indicator.id)
        elif change in ("added", "replaced", "removed"):
            self._dirty = True

    def drop_topic(self, topic: str, now: datetime) -> None:
        self.blocklist.drop_topic(topic, now)
        self._dirty = True

    def flush(self, now: datetime) -> int | None:
        if self.blocklist.expire(now):
            self._dirty = True
        if not self._dirty:
            return None
        self.blocklist.write(self.out_dir, self.sid_base)
        self._dirty = False
        return sum(len(values) for values in self.blocklist.values().values())

    def close(self) -> None:
        pass


class Export:
    def __init__(self, hub: Settings, siem: SiemSettings, member: str, output: Output, follow: bool,
                 clock: Clock = utc_now, on_progress: Callable[[int, int | None], None] | None = None,
                 on_write: Callable[[Tally], None] | None = None) -> None:
        """`on_progress(records read, records to read or None)`; `on_write(tally)` after each write."""
        self.hub, self.siem, self.member, self.output, self.follow = hub, siem, member, output, follow
        self.clock, self.on_progress, self.on_write = clock, on_progress, on_write
        self.tally = Tally()
        names = Topics(hub.namespace)
        self.group = names.member_group_prefix(member) + f"siem-{output.name}"
        self._own = {names.member_rejected(member), names.member_audit(member)}  # not STIX: rejections, audit rows
        self.outage = Outage(f"siem-export-{output.name}", log)

    def topics(self) -> list[str]:
        """The share, contrib and inbox topics the member may read now."""
        return [name for name in access.readable_topics(self.hub, self.member) if name not in self._own]

    def run(self, stop: threading.Event | None = None) -> Tally:
        stop = stop or threading.Event()
        try:
            consumer = Consumer({**client_config(self.hub, self.member), "group.id": self.group,
                                 "enable.auto.commit": False, "enable.partition.eof": True,
                                 "auto.offset.reset": "earliest"})
        except KafkaException as exc:
            raise ExportFailed(f"Kafka client: {exc}") from None
        try:
            if self.follow:
                assigned = self._start_following(consumer, stop)
                if assigned is not None:
                    self._follow(consumer, assigned, stop)
            else:
                partitions = self._partitions(consumer, self.topics())
                # Counted before assigning: once a partition is being fetched, each query waits its turn.
                total = self._to_read(consumer, partitions) if self.on_progress else None
                self._once(consumer, self._assign(consumer, partitions), total, stop)
        except KafkaException as exc:
            reason = exc.args[0].str() if exc.args else exc
            raise ExportFailed(f"Kafka at {self.hub.bootstrap_servers}: {reason}") from None
        finally:
            consumer.close()
            self.output.close()
        return self.tally

    def _start_following(self, consumer: Consumer, stop: threading.Event) -> set[tuple[str, int]] | None:
        """Assign the member's partitions, waiting out a broker that is away; None if stopped meanwhile."""
        while not stop.is_set():
            try:
                assigned = self._assign(consumer, self._partitions(consumer, self.topics()))
                self.outage.ok()
                return assigned
            except KafkaException as exc:
                if not transient(exc):
                    raise
                self.outage.wait(exc, stop)
        return None

    def _partitions(self, consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
        found = consumer.list_topics(timeout=15).topics
        partitions = []
        for name in topics:
            meta = found.get(name)
            if meta is None or meta.error is not None:
                if name not in self.tally.missing_topics:  # not there, or not visible to the member yet
                    self.tally.missing_topics.append(name)
                continue
            partitions += [TopicPartition(name, number) for number in sorted(meta.partitions)]
        return partitions

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> set[tuple[str, int]]:
        """Assign partitions: from the start, or (ECS and CEF following) from the group's
        committed offsets when it has them."""
        if not partitions:
            return set()
        if self.follow and not self.output.needs_history:
            partitions = consumer.committed(partitions, timeout=15)
        for partition in partitions:
            if not self.follow or self.output.needs_history or partition.offset < 0:
                partition.offset = OFFSET_BEGINNING
        consumer.incremental_assign(partitions)
        return {(p.topic, p.partition) for p in partitions}

    def _take(self, msg: Message, now: datetime) -> None:
        self.tally.records += 1
        (topic, partition, offset), value = kafka_io.where(msg), msg.value()
        where = f"{topic}[{partition}]@{offset}"
        try:
            indicator = from_record(orjson.loads(value)) if value is not None else None
        except orjson.JSONDecodeError as exc:
            self.tally.problem(where, f"not JSON ({exc})")
            return
        except BadRecord as exc:
            self.tally.problem(where, str(exc))
            return
        if indicator is None:
            self.tally.other_objects += 1
            return
        self.tally.indicators += 1
        self.output.apply(topic, indicator, now)

    def _to_read(self, consumer: Consumer, partitions: list[TopicPartition]) -> int:
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(partition, timeout=15)
            total += max(high - low, 0)
        return total

    def _once(self, consumer: Consumer, assigned: set[tuple[str, int]], total: int | None,
              stop: threading.Event) -> None:
        unfinished, heard = set(assigned), time.monotonic()
        while unfinished and not stop.is_set():
            messages = consumer.consume(1000, timeout=0.5)
            now = self.clock()
            for msg in messages:
                error = msg.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    unfinished.discard((msg.topic(), msg.partition()))
                elif error is not None:
                    raise KafkaException(error)
                else:
                    self._take(msg, now)
            if messages:
                heard = time.monotonic()
                if self.on_progress:
                    self.on_progress(self.tally.records, total)
            elif time.monotonic() - heard > NO_ANSWER_S:
                raise ExportFailed(f"no answer from Kafka at {self.hub.bootstrap_servers} for {NO_ANSWER_S:.0f} s")
        self._write()

    def _write(self) -> None:
        written = self.output.flush(self.clock())
        if written is not None:
            self.tally.written = written
            if self.on_write:
                self.on_write(self.tally)

    def _follow(self, consumer: Consumer, assigned: set[tuple[str, int]], stop: threading.Event) -> None:
        unfinished = set(assigned)  # a blocklist writes once it has caught up with every partition
        offsets: dict[tuple[str, int], int] = {}
        access_checked = time.monotonic()
        while not stop.is_set():
            messages = consumer.consume(self.siem.batch_records, timeout=self.siem.idle_flush_s)
            now = self.clock()
            for msg in messages:
                error, (topic, partition, offset) = msg.error(), kafka_io.where(msg)
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    unfinished.discard((topic, partition))
                elif error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED and topic:
                    assigned = self._lose(consumer, assigned, {topic})  # access withdrawn before we looked
                    unfinished = {tp for tp in unfinished if tp[0] != topic}
                    offsets = {tp: o for tp, o in offsets.items() if tp[0] != topic}
                elif error is not None and transient(KafkaException(error)):
                    self.outage.wait(KafkaException(error), stop)  # librdkafka reconnects by itself meanwhile
                elif error is not None:
                    raise KafkaException(error)
                else:
                    self._take(msg, now)
                    offsets[(topic, partition)] = offset + 1
            if self.outage.since is not None and self._answers(consumer):
                self.outage.ok()
            if self.on_progress and messages:
                self.on_progress(self.tally.records, None)
            if self.output.needs_history and unfinished:
                continue
            self._write()
            try:
                if offsets:
                    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                    asynchronous=False)
                    offsets.clear()
                if time.monotonic() - access_checked > self.siem.access_check_s:
                    assigned, gained = self._reassign(consumer, assigned)
                    unfinished |= gained
                    access_checked = time.monotonic()
            except KafkaException as exc:  # committed or re-checked on the next round, once Kafka answers
                if not transient(exc):
                    raise
                self.outage.wait(exc, stop)

    def _answers(self, consumer: Consumer) -> bool:
        try:
            consumer.list_topics(timeout=5)
            return True
        except KafkaException:
            return False

    def _reassign(self, consumer: Consumer, assigned: set[tuple[str, int]]) -> tuple[set[tuple[str, int]],
                                                                                     set[tuple[str, int]]]:
        """Follow changes of access: read topics the member gained, forget the ones it lost."""
        wanted = set(self.topics())
        held = {topic for topic, _ in assigned}
        assigned = self._lose(consumer, assigned, held - wanted)
        gained = self._assign(consumer, self._partitions(consumer, sorted(wanted - held))) if wanted - held else set()
        return assigned | gained, gained

    def _lose(self, consumer: Consumer, assigned: set[tuple[str, int]], lost: set[str]) -> set[tuple[str, int]]:
        """Stop reading `lost` topics; what only they gave leaves the output at its next write."""
        held = [(t, p) for t, p in assigned if t in lost]
        if held:
            consumer.incremental_unassign([TopicPartition(t, p) for t, p in held])
            now = self.clock()
            for topic in sorted({t for t, _ in held}):
                self.output.drop_topic(topic, now)
        return {(t, p) for t, p in assigned if t not in lost}
