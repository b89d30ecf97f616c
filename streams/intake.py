"""The one way anything submits to the hub: a signed envelope on kizuna.intake, or signed feedback
on kizuna.feedback, sent with the member's own Kafka login (CLI, TAXII intake, pollers, importers)."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from streams import credentials
from streams.core.signing import sign_feedback, sign_submission
from streams.kafka_io import Publisher
from streams.records import feedback_codec, submission_codec
from streams.settings import Settings
from streams.topics import Topics

_publishers: dict[tuple[str, str, str], Publisher] = {}


def _publisher(settings: Settings, member: str) -> Publisher:
    """One producer per member login and process: creating one costs a broker connection."""
    key = (settings.bootstrap_servers, settings.namespace, member)
    if key not in _publishers:
        _publishers[key] = Publisher(settings, f"kizuna-{member}", member=member)
    return _publishers[key]


def envelope(member: str, payload: bytes, fmt: str = "auto", filename: str = "submission", tlp: str | None = None,
             sectors: Iterable[str] = (), recipients: Iterable[str] = (), key: bytes | None = None,
             received_at: int | None = None, override_distribution: bool = False) -> dict[str, Any]:
    """A Submission record, signed with `key` when given."""
    record = {"submission_id": str(uuid.uuid4()), "submitter": member,
              "received_at": received_at or int(time.time() * 1000), "format": fmt, "filename": filename,
              "tlp": tlp, "sectors": list(sectors), "recipients": sorted(set(recipients)), "payload": payload,
              "signature": None, "override_distribution": override_distribution}
    if key is not None:
        record["signature"] = sign_submission(key, record)
    return record


def feedback_item(member: str, indicator: str, kind: str, count: int = 1, tlp: str | None = None,
                  key: bytes | None = None, observed_at: int | None = None) -> dict[str, Any]:
    item = {"feedback_id": str(uuid.uuid4()), "member": member, "kind": kind, "indicator": indicator, "count": count,
            "tlp": tlp, "observed_at": observed_at or int(time.time() * 1000), "signature": None}
    if key is not None:
        item["signature"] = sign_feedback(key, item)
    return item


def lane(settings: Settings, payload: bytes, bulk: bool | None = None) -> str:
    """The intake topic for a submission: the bulk lane when asked, or by size when not."""
    topics = Topics(settings.namespace)
    return topics.intake_bulk if (bulk if bulk is not None else len(payload) > settings.bulk_bytes) else topics.intake


def submit(settings: Settings, member: str, payload: bytes, fmt: str = "auto", filename: str = "submission",
           tlp: str | None = None, sectors: Iterable[str] = (), recipients: Iterable[str] = (),
           flush: bool = True, bulk: bool | None = None, override_distribution: bool = False) -> str:
    """Put one signed submission on the intake (live or bulk lane, see `lane`) as `member`; returns
    its submission id. Raises streams.kafka_io.DeliveryFailed if the broker did not take it (with flush)."""
    record = envelope(member, payload, fmt, filename, tlp, sectors, recipients, credentials.load(settings, member).key,
                      override_distribution=override_distribution)
    publisher = _publisher(settings, member)
    publisher.send(lane(settings, payload, bulk), submission_codec().encode(record), record["submission_id"].encode())
    if flush:
        publisher.flush_sync(timeout=30)
    return str(record["submission_id"])


def send_feedback(settings: Settings, member: str, items: list[dict[str, Any]], flush: bool = True) -> None:
    """Put feedback items (from `feedback_item`, signed here) on kizuna.feedback as `member`."""
    key = credentials.load(settings, member).key
    for item in items:
        item["signature"] = sign_feedback(key, item)
    publisher = _publisher(settings, member)
    publisher.send(Topics(settings.namespace).feedback, feedback_codec().encode({"items": items}),
                   items[0]["feedback_id"].encode())
    if flush:
        publisher.flush_sync(timeout=30)
