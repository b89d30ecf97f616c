"""A MISP feed of what one member may see, for that member's MISP instance to pull.

The records are read with the member's own Kafka login from exactly the topics it may
read (`streams.access.readable_topics`: share, contrib, its inbox), converted from STIX 2.1
to MISP by misp-stix (`ExternalSTIX2toMISPParser`), and written in MISP's feed format:
`manifest.json` (event uuid -> event summary), one `<uuid>.json` per event and `hashes.csv`
(md5 of each attribute value, event uuid), as PyMISP's `MISPEvent.to_feed` makes them.

One event per TLP level and day (UTC) on which the hub first saw the records: a MISP
event has one TLP tag, and a day's events stay small and change only while that day's
records do. Each record appears once, at the least restrictive level it reached the
member (the view it may pass on most widely); a record revoked everywhere it reached
the member stays as a deleted attribute, so a MISP instance that pulled it drops it.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from streams import access, kafka_io
from streams.settings import ConfigError, Settings
from streams.tlp import TLP, from_marking_ref
from streams.topics import Topics

# Namespace of the feed's event uuids: derived from namespace, member, level and day, so that a
# new export updates the same events instead of adding new ones.
_FEED_EVENTS = uuid.UUID("0d9b4c6e-1f2a-4e3b-8c5d-6b697a756e61")
# Where a pulling MISP instance may pass an event on: GREEN and CLEAR to its community,
# anything narrower stays in the pulling organisation.
FEED_DISTRIBUTION: dict[TLP, int] = {TLP.CLEAR: 1, TLP.GREEN: 1, TLP.AMBER: 0, TLP.AMBER_STRICT: 0, TLP.RED: 0}


class FeedUnavailable(Exception):
    """The member's topics could not be read (broker down, access refused)."""


@dataclass(frozen=True)
class FeedReport:
    events: int
    attributes: int
    deleted: int
    records: int
    directory: Path


def level_of(record: dict[str, Any]) -> TLP | None:
    levels = [lvl for ref in record.get("object_marking_refs") or [] if (lvl := from_marking_ref(ref)) is not None]
    return max(levels) if levels else None


def member_topics(settings: Settings, member: str) -> list[str]:
    """What the member may read that carries records: not its rejections or audit trail."""
    topics = Topics(settings.namespace)
    own_logs = {topics.member_rejected(member), topics.member_audit(member)}
    return [name for name in access.readable_topics(settings, member) if name not in own_logs]


def read_records(settings: Settings, member: str, topics: list[str], patience_s: float = 30.0,
                 progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """The current version of every record on `topics` (the last value per key, as compaction
    keeps it), read to each partition's end with the member's own login."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

    from streams.kafka_io import client_config

    consumer = Consumer({**client_config(settings, member),
                         "group.id": Topics(settings.namespace).member_group_prefix(member) + "misp-feed",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    latest: dict[tuple[str, bytes | None], bytes | None] = {}
    try:
        metadata = consumer.list_topics(timeout=15)
        ends: dict[tuple[str, int], int] = {}
        for name in topics:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                continue  # not created yet: nothing to read
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=15)
                if high > low:
                    ends[(name, partition)] = high
        consumer.assign([TopicPartition(name, partition, OFFSET_BEGINNING) for name, partition in ends])
        idle_since = time.monotonic()
        while ends:
            messages = consumer.consume(1000, timeout=1.0)
            if not messages and time.monotonic() - idle_since > patience_s:
                raise FeedUnavailable(f"no progress reading {sorted({n for n, _ in ends})} for {patience_s:.0f} s")
            for msg in messages:
                idle_since = time.monotonic()
                error, (topic, partition, offset) = msg.error(), kafka_io.where(msg)
                if error is not None and error.code() == KafkaError._PARTITION_EOF:  # compaction may leave gaps
                    ends.pop((topic, partition), None)
                    continue
                if error is not None:
                    raise KafkaException(error)
                latest[(topic, msg.key())] = msg.value()
                if offset >= ends.get((topic, partition), 0) - 1:
                    ends.pop((topic, partition), None)
            if progress is not None:
                progress(len(latest))
    except KafkaException as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.str() if isinstance(reason, KafkaError) else str(reason)
        raise FeedUnavailable(f"Kafka at {settings.bootstrap_servers}: {text}") from None
    finally:
        consumer.close()
    return [orjson.loads(value) for value in latest.values() if value is not None]


def choose(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One copy per record id: the live copy at the least restrictive level (newest first among
    equals); a record with no live copy left keeps its newest revocation."""
    chosen: dict[str, dict[str, Any]] = {}

    def rank(record: dict[str, Any]) -> tuple[bool, int, str]:
        level = level_of(record)
        return (not record.get("revoked"), -(level if level is not None else TLP.RED), record.get("modified", ""))

    for record in records:
        if level_of(record) is None or not isinstance(record.get("id"), str):
            continue  # every record the hub publishes has both; anything else is not its record
        known = chosen.get(record["id"])
        if known is None or rank(record) > rank(known):
            chosen[record["id"]] = record
    return chosen


def _day(record: dict[str, Any]) -> str:
    return str(record.get("created", ""))[:10] or "unknown"


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp())


def event_uuid(settings: Settings, member: str, level: TLP, day: str) -> str:
    return str(uuid.uuid5(_FEED_EVENTS, f"{settings.namespace}|{member}|{level.slug}|{day}"))


def build_event(settings: Settings, member: str, level: TLP, day: str, records: list[dict[str, Any]]) -> Any:
    """One pymisp MISPEvent from one group of records, converted by misp-stix."""
    from misp_stix_converter import ExternalSTIX2toMISPParser
    from pymisp import MISPOrganisation
    from stix2 import parse

    from streams.core.stix_out import hub_identity_id

    key = event_uuid(settings, member, level, day)
    # kizuna's extension and the revocation flag are not STIX that MISP reads; revocations are
    # carried as deleted attributes below.
    objects = [{k: v for k, v in r.items() if k not in ("extensions", "revoked")} for r in records]
    revoked = {r["id"].split("--", 1)[1] for r in records if r.get("revoked")}
    converter = ExternalSTIX2toMISPParser()
    converter.load_stix_bundle(parse({"type": "bundle", "id": f"bundle--{key}", "objects": objects}, allow_custom=True))
    converter.parse_stix_bundle(single_event=True, galaxies_as_tags=True, distribution=FEED_DISTRIBUTION[level])
    event = converter.misp_event
    organisation = MISPOrganisation()
    organisation.from_dict(name=settings.hub_name, uuid=hub_identity_id(settings.hub_name).split("--", 1)[1])
    event.Orgc = organisation
    event.uuid = key
    event.info = f"kizuna: indicators first seen {day}, {level.label}"
    event.date = day if day != "unknown" else time.strftime("%Y-%m-%d", time.gmtime())
    event.published = True
    event.analysis = 2
    event.threat_level_id = 4
    event.distribution = FEED_DISTRIBUTION[level]
    event.tags = [t for t in event.tags if not t.name.lower().startswith("tlp:")]
    event.add_tag(level.label.lower())
    # The newest change decides whether a pulling instance fetches the event again.
    event.timestamp = max(_epoch(r["modified"]) for r in records)
    for attribute in event.attributes + [a for obj in event.objects for a in obj.attributes]:
        attribute.distribution = 5  # inherit the event's
        if attribute.uuid in revoked:
            attribute.deleted = True
        # A record moves between events when it reaches the member at a wider level later: its
        # MISP uuid is per event so that it never collides with its earlier place.
        attribute.uuid = str(uuid.uuid5(uuid.UUID(key), str(attribute.uuid)))
    for obj in event.objects:
        obj.uuid, obj.distribution = str(uuid.uuid5(uuid.UUID(key), str(obj.uuid))), 5
    return event


def build_feed(settings: Settings, member: str, records: Iterable[dict[str, Any]]) -> list[Any]:
    """The feed's events: the chosen records grouped by level and day."""
    from streams.core.stix_in import SCO_TYPES

    groups: dict[tuple[TLP, str], list[dict[str, Any]]] = {}
    for record in choose(records).values():
        if record["type"] in SCO_TYPES:  # context observables: MISP gets their values as indicators already
            continue
        level = level_of(record)
        if level is not None:  # choose() keeps only marked records
            groups.setdefault((level, _day(record)), []).append(record)
    return [build_event(settings, member, level, day, group) for (level, day), group in sorted(groups.items())]


def write_feed(events: list[Any], directory: Path) -> tuple[int, int]:
    """manifest.json, <uuid>.json and hashes.csv; events no longer in the feed are removed.
    The manifest is written last, so a pulling instance never sees it name a missing file."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {}
    hashes: list[str] = []
    attributes = deleted = 0
    for event in events:
        feed = event.to_feed(with_meta=True, with_distribution=True)
        body = feed["Event"]
        hashes += [f"{digest},{event.uuid}" for digest in body.pop("_hashes")]
        manifest.update(body.pop("_manifest"))
        everything = body.get("Attribute", []) + [a for o in body.get("Object", []) for a in o.get("Attribute", [])]
        attributes += len(everything)
        deleted += sum(1 for a in everything if a.get("deleted"))
        _write(directory / f"{event.uuid}.json", orjson.dumps(feed, option=orjson.OPT_INDENT_2))
    _write(directory / "hashes.csv", "".join(line + "\n" for line in hashes).encode())
    for stale in directory.glob("*.json"):
        if stale.stem not in manifest and stale.name != "manifest.json" and _is_uuid(stale.stem):
            stale.unlink()
    _write(directory / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return attributes, deleted


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def export(settings: Settings, member: str, directory: Path,
           progress: Callable[[int], None] | None = None) -> FeedReport:
    """Read what `member` may see and write it as a MISP feed into `directory`."""
    topics = member_topics(settings, member)
    if not topics:
        raise ConfigError(f"no member {member!r} in {settings.members_file}; `kizuna members` lists them")
    records = read_records(settings, member, topics, progress=progress)
    events = build_feed(settings, member, records)
    attributes, deleted = write_feed(events, directory)
    return FeedReport(len(events), attributes, deleted, len(records), directory)
