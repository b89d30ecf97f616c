"""Members' assets on the wire: signed changes a member sends (kizuna.asset-changes, which only the
hub reads), checked by the match agent before anything is stored on the hub-only kizuna.assets.

Kafka does not stamp records with the producer's principal, and every member may write the
changes topic; each change is signed with the member's key (streams.core.signing.member_key),
as submissions and feedback are, so no member can add or remove another's assets.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
import uuid
from typing import Any

import orjson

from streams import credentials
from streams.core.vuln_model import Software
from streams.settings import Settings
from streams.topics import Topics


def _digest(change: dict[str, Any]) -> bytes:
    return orjson.dumps(["asset", change["change_id"], change["member"], change["action"], change["asset_id"],
                         change.get("software"), change["at"]], option=orjson.OPT_SORT_KEYS)


def sign(key: bytes, change: dict[str, Any]) -> str:
    return hmac.new(key, _digest(change), hashlib.sha256).hexdigest()


def valid(key: bytes, change: dict[str, Any]) -> bool:
    signature = change.get("signature")
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(key, change))


def change(member: str, action: str, asset_id: str, software: Software | None, at: int | None = None) -> dict[str, Any]:
    """An unsigned change: add (with the software) or remove (by asset id)."""
    return {"change_id": str(uuid.uuid4()), "member": member, "action": action, "asset_id": asset_id,
            "software": dataclasses.asdict(software) if software is not None else None,
            "at": at if at is not None else int(time.time() * 1000), "signature": None}


def send(settings: Settings, member: str, changes: list[dict[str, Any]], flush: bool = True) -> None:
    """Sign `changes` with the member's key and put them on kizuna.asset-changes with its own login."""
    from streams.intake import _publisher

    key = credentials.load(settings, member).key
    publisher = _publisher(settings, member)
    topic = Topics(settings.namespace).asset_changes
    for item in changes:
        item["signature"] = sign(key, item)
        publisher.send(topic, orjson.dumps(item), member.encode())
    if flush:
        publisher.flush_sync(timeout=30)
