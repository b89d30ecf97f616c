"""Render published views as STIX 2.1 JSON with TLP 2.0 markings and the kizuna extension.

Built as plain dicts (the stix2 object model is far too slow for the hot path);
tests check every shape with stix2-validator.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import orjson

from streams.core.canonical import object_id, pattern_for
from streams.core.merge import INBOX, Publication, State

# The extension definition is in schemas/kizuna-extension.json; its id is derived, not random.
EXTENSION_ID = "extension-definition--" + object_id("extension-definition", "kizuna-record/1").split("--")[1]


def hub_identity_id(hub_name: str) -> str:
    return object_id("identity", "hub:" + hub_name)


@lru_cache(maxsize=65536)  # the times of one submission's records repeat
def timestamp(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def render(state: State, pub: Publication, hub_identity: str) -> dict[str, Any]:
    level, sector = pub.audience
    shown = pub.view
    common = {
        "type": state["stix_type"],
        "spec_version": "2.1",
        "id": state["id"],
        "created": timestamp(shown["first_seen"]),
        "modified": timestamp(pub.modified),
        "created_by_ref": hub_identity,
        "confidence": shown["confidence"],
        "object_marking_refs": [level.marking_id],
    }
    if pub.status == "revoked":
        common["revoked"] = True
    extension = {
        "extension_type": "property-extension",
        "tlp": level.slug,
        "sector": "inbox" if sector.startswith(INBOX) else sector,
        "tier": pub.tier,
        "status": pub.status,
        "first_seen": timestamp(shown["first_seen"]),
        "last_seen": timestamp(shown["last_seen"]),
        "reporter_count": shown["reporter_count"],
        "sightings": shown["sightings"],
        "false_positives": shown["false_positives"],
        "warninglisted": shown["warned"],
    }
    if shown["sources"]:
        extension["sources"] = shown["sources"]
    if not shown.get("for_detection", True):
        extension["for_detection"] = False
    if shown.get("withdrawn"):
        extension["withdrawn"] = True
    if state["stix_type"] == "indicator" and (state["observable"] or state["pattern"]):
        obj = {
            **common,
            "name": f"{state['observable']}: {state['value']}" if state["observable"] else "pattern indicator",
            "description": "Shared through kizuna; provenance and scoring in the kizuna extension.",
            "pattern": state["pattern"] or pattern_for(state["observable"], state["value"]),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": timestamp(shown["first_seen"]),
        }
        if shown["indicator_types"]:
            obj["indicator_types"] = shown["indicator_types"]
        if state["observable"]:
            extension |= {"observable": state["observable"], "value": state["value"]}
    else:  # objects as submitted (SDOs, observables, custom objects, rules), under the hub's common properties
        body = orjson.loads(shown["body"] or "{}")
        obj = {**body, **common}  # observables too: readers version every record by `modified`
        if state["stix_type"] == "indicator":  # a detection rule (YARA, Sigma, Snort ...)
            obj.setdefault("valid_from", timestamp(shown["first_seen"]))
    obj["extensions"] = {**obj.get("extensions", {}), EXTENSION_ID: extension}
    return obj



def encode(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)
