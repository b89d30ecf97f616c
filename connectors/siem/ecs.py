"""STIX indicator -> Elastic Common Schema document (`threat.indicator.*`), one JSON object per
version, as Elastic's threat-intelligence integrations index them (`event.kind: enrichment`).

Only ECS fields are emitted (tests check every name and type against the ECS field reference);
kizuna's own numbers that ECS has no field for travel as `labels`, which ECS keeps as keywords.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from connectors.siem.indicator import Indicator

ECS_VERSION = "9.4.0"

# kizuna's observable kinds -> ECS `threat.indicator.type` (STIX cyber-observable names).
INDICATOR_TYPES = {
    "ipv4-addr": "ipv4-addr", "ipv6-addr": "ipv6-addr", "domain-name": "domain-name", "url": "url",
    "email-addr": "email-addr", "file-md5": "file", "file-sha1": "file", "file-sha256": "file", "file-sha512": "file",
}


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def confidence_label(score: int | None) -> str:
    """The 0-100 score on the None/Low/Med/High scale of STIX 2.1 Appendix A, in ECS's words."""
    if score is None:
        return "Not Specified"
    if score == 0:
        return "None"
    return "Low" if score < 30 else "Medium" if score < 70 else "High"


def _observable_fields(kind: str, value: str) -> dict[str, Any]:
    """Where ECS puts the value of each kind. A CIDR range has no place: ECS `ip` holds one address."""
    if kind in ("ipv4-addr", "ipv6-addr"):
        return {} if "/" in value else {"ip": value}
    if kind == "domain-name":
        return {"url": {"domain": value}}
    if kind == "url":
        parts = urlsplit(value)
        url: dict[str, Any] = {"full": value, "original": value, "scheme": parts.scheme,
                               "domain": (parts.hostname or "").strip("[]"), "path": parts.path}
        if parts.port is not None:
            url["port"] = parts.port
        if parts.query:
            url["query"] = parts.query
        return {"url": url}
    if kind == "email-addr":
        return {"email": {"address": value}}
    return {"file": {"hash": {kind.removeprefix("file-"): value}}}


def document(indicator: Indicator, now: datetime, provider: str) -> dict[str, Any]:
    """The ECS document of one indicator version; `event.action` says its state as of `now`."""
    threat: dict[str, Any] = {
        "id": [indicator.id],
        "name": indicator.value or indicator.pattern,
        "provider": provider,
        "confidence": confidence_label(indicator.confidence),
        "marking": {"tlp": indicator.tlp.label.removeprefix("TLP:"), "tlp_version": "2.0"},
        "modified_at": timestamp(indicator.modified),
        "sightings": indicator.sightings,
    }
    if indicator.first_seen:
        threat["first_seen"] = timestamp(indicator.first_seen)
    if indicator.last_seen:
        threat["last_seen"] = timestamp(indicator.last_seen)
    if indicator.observable and indicator.value:  # set together, or neither
        threat["type"] = INDICATOR_TYPES[indicator.observable]
        threat |= _observable_fields(indicator.observable, indicator.value)
    labels = {"kizuna_pattern": indicator.pattern}
    if indicator.confidence is not None:
        labels["kizuna_confidence"] = str(indicator.confidence)
    if indicator.valid_until is not None:
        labels["kizuna_valid_until"] = timestamp(indicator.valid_until)
    return {
        "@timestamp": timestamp(indicator.modified),
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "enrichment", "category": ["threat"], "type": ["indicator"],
                  "action": f"indicator-{indicator.state(now)}"},
        "threat": {"feed": {"name": provider}, "indicator": threat},
        "labels": labels,
    }
