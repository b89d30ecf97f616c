"""Merge: fold normalised records into per-object state, and decide what to publish.

State per STIX id holds evidence entries, one per (reporter, TLP, sectors), and
what was last published to each audience. Folding is idempotent (first/last seen
are min/max), so a replay after a crash changes nothing. A record is published
to an audience only when what that audience sees changes, never per duplicate.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from streams.sectors import ALL
from streams.tlp import TLP

State = dict[str, Any]
_RANK = {level.slug: int(level) for level in TLP}
Audience = tuple[TLP, str]  # (level, sector or ALL)


def fold(state: State | None, record: dict[str, Any], batch: dict[str, Any]) -> State:
    """Add one record's evidence to the state (new state if None). Idempotent.

    `batch` is the NormalizedBatch the record came in: its reporter, sectors and time.
    """
    if state is None:
        state = {key: record[key] for key in ("id", "stix_type", "observable", "value", "pattern")}
        state["evidence"], state["published"] = {}, {}
    key = f"{batch['reporter']}|{record['tlp']}|{','.join(batch['sectors'])}"
    entry = state["evidence"].get(key)
    seen = batch["observed_at"]
    if entry is None:
        state["evidence"][key] = {
            "reporter": batch["reporter"], "tlp": record["tlp"], "sectors": list(batch["sectors"]),
            "first": seen, "last": seen, "types": list(record["indicator_types"]), "body": record["body"],
        }
    else:
        if seen < entry["first"]:
            entry["first"], entry["body"] = seen, record["body"] or entry["body"]
        entry["last"] = max(entry["last"], seen)
        if record["indicator_types"]:
            entry["types"] = sorted(set(entry["types"]) | set(record["indicator_types"]))
    return state


def audiences(state: State) -> set[Audience]:
    """Each evidence entry reaches its own level on each of its sectors (or the whole community)."""
    found = set()
    for entry in state["evidence"].values():
        level = TLP.from_slug(entry["tlp"])
        for sector in entry["sectors"] or [ALL]:
            found.add((level, sector))
    return found


def view(state: State, audience: Audience) -> dict[str, Any]:
    """What readers of one audience see, from the evidence they are entitled to (rule 2).

    Evidence informs a view when its level is at or below the view's level, and it
    was addressed to the view's sector or to the whole community.
    """
    level, sector = audience
    entries = [
        e for e in state["evidence"].values()
        if _RANK[e["tlp"]] <= level and (not e["sectors"] or (sector != ALL and sector in e["sectors"]))
    ]
    if len(entries) > 1:
        entries.sort(key=lambda e: (e["first"], e["reporter"]))
    return {
        "first_seen": entries[0]["first"],
        "last_seen": max(e["last"] for e in entries),
        "reporter_count": len({e["reporter"] for e in entries}),
        "indicator_types": sorted({t for e in entries for t in e["types"]}),
        "body": next((e["body"] for e in entries if e["body"]), None),
    }


def _digest(shown: dict[str, Any]) -> str:
    """What makes a new version: everything but last_seen, which moves on every repeat."""
    material = {k: v for k, v in shown.items() if k != "last_seen"}
    return hashlib.blake2b(orjson.dumps(material, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@dataclass(slots=True, frozen=True)
class Publication:
    audience: Audience
    view: dict[str, Any]
    modified: int  # epoch ms; strictly increasing per audience
    digest: str


def _audience_key(audience: Audience) -> str:
    return f"{audience[0].slug}/{audience[1]}"


def changes(state: State) -> list[Publication]:
    """Audiences whose view changed since it was last published, with the new version's time."""
    out = []
    for audience in sorted(audiences(state)):
        shown = view(state, audience)
        digest = _digest(shown)
        last = state["published"].get(_audience_key(audience))
        if last is not None and last["digest"] == digest:
            continue
        modified = shown["last_seen"] if last is None else max(shown["last_seen"], last["modified"] + 1)
        out.append(Publication(audience, shown, modified, digest))
    return out


def mark_published(state: State, publications: list[Publication]) -> None:
    """Record what was published, after the broker acknowledged it."""
    for pub in publications:
        state["published"][_audience_key(pub.audience)] = {"digest": pub.digest, "modified": pub.modified}
