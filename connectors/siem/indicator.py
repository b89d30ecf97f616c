"""What the SIEM outputs read from a shared record: one version of a STIX 2.1 indicator, and the
current set of them a member holds across the topics it reads.

A member may read the same indicator on several topics (its sector and `all`, several TLP
levels, the contributor and the general tier), each with its own view. An indicator is *live*
for the member only while every version it holds is: a revocation, an expiry (`valid_until`
passed) or, for blocklists, an unconfirmed status on any of them takes it out. When blocking is
at stake, doubt wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.core.stix_out import EXTENSION_ID
from streams.tlp import TLP, from_marking_ref, most_restrictive

PUBLISHED = ("confirmed", "unconfirmed", "revoked")  # the statuses the hub publishes; "expired" is the reader's clock


class BadRecord(ValueError):
    """A record on a member topic that claims to be an indicator but lacks what an output needs."""


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    pattern: str
    observable: str | None  # simple indicators: the kind (ipv4-addr, domain-name, file-sha256 ...)
    value: str | None  # and the canonical value; None for complex patterns
    tlp: TLP
    confidence: int | None
    status: str  # as the hub published it: confirmed, unconfirmed or revoked
    revoked: bool
    modified: datetime
    valid_until: datetime | None
    first_seen: datetime | None
    last_seen: datetime | None
    sightings: int

    def state(self, now: datetime) -> str:
        """confirmed, unconfirmed, revoked or expired, as of `now`."""
        if self.revoked or self.status == "revoked":
            return "revoked"
        if self.valid_until is not None and self.valid_until <= now:
            return "expired"
        return self.status

    def live(self, now: datetime, unconfirmed: bool) -> bool:
        state = self.state(now)
        return state == "confirmed" or (unconfirmed and state == "unconfirmed")


def _time(record: dict[str, Any], holder: dict[str, Any], key: str, required: bool = False) -> datetime | None:
    text = holder.get(key)
    if text is None and not required:
        return None
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRecord(f"{record.get('id')}: {key} {str(text)[:40]!r} is not a UTC timestamp")
    return moment


def from_record(record: Any) -> Indicator | None:
    """A shared record -> its indicator; None for anything else (other STIX objects, rows of a
    member's own topics). Raises BadRecord when an indicator lacks what outputs need."""
    if not isinstance(record, dict) or record.get("type") != "indicator":
        return None
    ident, pattern = record.get("id"), record.get("pattern")
    if not isinstance(ident, str) or not ident.startswith("indicator--") or not isinstance(pattern, str):
        raise BadRecord(f"{str(ident)[:60]}: an indicator needs an id and a pattern")
    levels = [from_marking_ref(ref) for ref in record.get("object_marking_refs") or [] if isinstance(ref, str)]
    level = most_restrictive([lvl for lvl in levels if lvl is not None])  # CLEAR is 0: test for None, not truth
    if level is None:
        raise BadRecord(f"{ident}: no TLP marking (never guessed)")
    extension = (record.get("extensions") or {}).get(EXTENSION_ID) or {}
    status = extension.get("status")
    if status not in PUBLISHED:
        raise BadRecord(f"{ident}: status {status!r} is not one of {', '.join(PUBLISHED)}")
    confidence = record.get("confidence")
    if confidence is not None and (not isinstance(confidence, int) or not 0 <= confidence <= 100):
        raise BadRecord(f"{ident}: confidence {confidence!r} is not 0..100")
    observable, value = extension.get("observable"), extension.get("value")
    modified = _time(record, record, "modified", required=True)
    assert modified is not None  # required: _time raised otherwise
    return Indicator(
        id=ident, pattern=pattern, observable=observable if value else None, value=value if observable else None,
        tlp=level, confidence=confidence, status=status, revoked=record.get("revoked") is True,
        modified=modified, valid_until=_time(record, record, "valid_until"),
        first_seen=_time(record, extension, "first_seen") or _time(record, record, "valid_from"),
        last_seen=_time(record, extension, "last_seen"), sightings=int(extension.get("sightings") or 0),
    )


class Current:
    """The latest version of each indicator on each topic, keyed by STIX id."""

    def __init__(self) -> None:
        self._versions: dict[str, dict[str, Indicator]] = {}

    def apply(self, topic: str, indicator: Indicator) -> bool:
        """Hold this version; False (and nothing changes) if the topic already gave a later one (a replay)."""
        held = self._versions.setdefault(indicator.id, {})
        known = held.get(topic)
        if known is not None and known.modified > indicator.modified:
            return False
        held[topic] = indicator
        return True

    def drop_topic(self, topic: str) -> list[str]:
        """Forget what `topic` gave (the member may no longer read it); the ids it touched."""
        touched = [ident for ident, held in self._versions.items() if held.pop(topic, None) is not None]
        for ident in touched:
            if not self._versions[ident]:
                del self._versions[ident]
        return touched

    def ids(self) -> list[str]:
        return sorted(self._versions)

    def representative(self, ident: str, now: datetime, unconfirmed: bool) -> Indicator | None:
        """The version to show for `ident` if it is live on every topic that carries it: the most
        restrictive TLP (the view with the most evidence), then the latest; else None."""
        held = self._versions.get(ident)
        if not held or not all(v.live(now, unconfirmed) for v in held.values()):
            return None
        topic = max(held, key=lambda name: (held[name].tlp, held[name].modified, name))
        return held[topic]

    def live(self, now: datetime, unconfirmed: bool) -> list[Indicator]:
        """One version per live indicator, in id order."""
        return [shown for ident in self.ids() if (shown := self.representative(ident, now, unconfirmed))]
