"""match: kizuna.vulns (advisories) + kizuna.asset-changes (members' signed changes) -> notices in
the members' inboxes, what each member holds on kizuna.vuln-matches, assets on kizuna.assets.

One agent reads both topics (one partition each, so one worker holds the whole catalogue and
index). At start it reads back the compacted kizuna.vuln-matches, kizuna.vulns and kizuna.assets,
so a restart or a replay after a crash sends nothing twice. Nothing here logs an asset, a product
or a member id: rejections name the change id only, metrics carry basis, action and trigger.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from streams import members, metrics
from streams.app import app, settings, topics
from streams.assets import valid
from streams.core.items import Problem, Reason, rejection
from streams.core.normalize import pseudonym
from streams.core.signing import member_key
from streams.core.stix_out import hub_identity_id
from streams.core.vuln_match import Asset, Catalogue, Decision, View
from streams.core.vuln_model import Advisory, BadSoftware, Software, asset_id, checked
from streams.core.vuln_notice import epoch_time, render, vulnerability_objects
from streams.kafka_io import Publisher, read_partition

log = logging.getLogger("kizuna.match")
SECRET = settings.pseudonym_secret()
HUB = hub_identity_id(settings.hub_name)
publisher = Publisher(settings, f"{settings.namespace}-match")
catalogue = Catalogue()
match_topic = app.topic(topics.vulns, topics.asset_changes, value_serializer="raw", key_serializer="raw")


def rebuild() -> None:
    """The catalogue as the compacted topics hold it; decisions made before the restart stand."""
    for key, value in read_partition(settings, topics.vuln_matches, 0):
        org, asset, vulnerability = key.decode().split("|", 2)
        held = orjson.loads(value) if value else None
        catalogue.remember(org, asset, vulnerability, (held["basis"], held["kev"]) if held else None)
    advisories: dict[str, bytes | None] = {}
    for key, value in read_partition(settings, topics.vulns, 0):
        advisories[key.decode()] = value
    for value in advisories.values():
        if value:
            catalogue.put_advisory(Advisory.from_dict(orjson.loads(value)))
    assets: dict[str, bytes | None] = {}
    for key, value in read_partition(settings, topics.assets, 0):
        assets[key.decode()] = value
    for value in assets.values():
        if value:
            data = orjson.loads(value)
            catalogue.index_asset(Asset(data["org"], data["id"], Software(**data["software"])))


def _asset_change(raw: bytes, now: int) -> tuple[list[Decision], str | None]:
    """Apply one member's change; returns its decisions, or a rejection sent here and []."""
    try:
        item = orjson.loads(raw)
        member = str(item["member"])
        software = checked(Software(**item["software"])) if item.get("action") == "add" else None
    except (orjson.JSONDecodeError, KeyError, TypeError, BadSoftware):
        _reject(None, "unknown", Reason.MALFORMED, "not a kizuna asset change", now)
        return [], None
    registry = members.load(settings.members_file)
    known = registry.get(member) is not None
    change_id = str(item.get("change_id", ""))[:64]
    if not known or not valid(member_key(SECRET, settings.namespace, member), item):
        _reject(member if known else None, change_id, Reason.UNAUTHENTICATED,
                "not signed with the sender's key: send with the credentials the hub issued to you", now)
        return [], None
    if software is not None:
        asset = Asset(member, asset_id(member, software), software)
        record = orjson.dumps({"org": member, "id": asset.id, "software": item["software"], "at": item["at"]})
        publisher.send(topics.assets, record, f"{member}|{asset.id}".encode())
        publisher.send(topics.member_assets(member), record, asset.id.encode())
        return catalogue.put_asset(asset), "asset"
    removed = str(item.get("asset_id", ""))
    publisher.send(topics.assets, None, f"{member}|{removed}".encode())
    publisher.send(topics.member_assets(member), None, removed.encode())
    return catalogue.drop_asset(member, removed), "asset"


def _reject(member: str | None, change_id: str, code: str, reason: str, now: int) -> None:
    item = rejection(change_id, now, pseudonym(SECRET, member) if member else "unknown", "asset",
                     Problem("asset change", code, reason))
    raw = orjson.dumps(item)
    publisher.send(topics.rejected, raw, item["reporter"].encode())
    if member is not None:
        publisher.send(topics.member_rejected(member), raw, change_id.encode())
    metrics.REJECTIONS.labels(code).inc()


def deliver(decisions: list[Decision], now: int) -> None:
    """Each decision as notice objects in the member's inbox, and what it now holds on the match log."""
    registry = members.load(settings.members_file)
    known = {m.id for m in registry.members}
    shared: dict[str, tuple[View | None, list[dict[str, Any]]]] = {}
    for decision in decisions:
        org = decision.asset.org
        if org not in known:
            continue  # no longer a member: its inbox is gone
        if decision.vulnerability not in shared:
            view = catalogue.view(decision.vulnerability)
            shared[decision.vulnerability] = (view, vulnerability_objects(view, HUB, epoch_time(now)) if view else [])
        view, objects = shared[decision.vulnerability]
        for obj in render(decision, view, HUB, now, objects) if view else []:
            publisher.send(topics.inbox(org), orjson.dumps(obj), obj["id"].encode())
        key = f"{org}|{decision.asset.id}|{decision.vulnerability}".encode()
        held = None if decision.action == "revoke" else orjson.dumps({"basis": decision.basis, "kev": decision.kev})
        publisher.send(topics.vuln_matches, held, key)
        metrics.VULN_NOTICES.labels(decision.basis, decision.action).inc()


def process(events: list[Any], now: int) -> dict[str, float]:
    """One batch: returns the earliest trigger time (s) per trigger kind that produced notices."""
    triggered: dict[str, float] = {}
    for event in events:
        message = event.message
        if message.topic == topics.asset_changes:
            decisions, trigger = _asset_change(event.value, now)
        elif event.value is None:
            decisions, trigger = catalogue.drop_advisory(message.key.decode()), "advisory"
        else:
            advisory = Advisory.from_dict(orjson.loads(event.value))
            metrics.VULN_ADVISORIES.labels(advisory.source).inc()
            decisions = catalogue.put_advisory(advisory)
            trigger = "kev" if advisory.source == "kev" else "advisory"
        if decisions and trigger:
            deliver(decisions, now)
            triggered[trigger] = min(triggered.get(trigger, message.timestamp), message.timestamp)
    return triggered


@app.agent(match_topic)
async def match_agent(stream: Any) -> None:
    await asyncio.get_running_loop().run_in_executor(None, rebuild)
    log.info("match: catalogue rebuilt: %d advisories, %d assets, %d notices held",
             len(catalogue.advisories), len(catalogue.assets), len(catalogue.told))
    async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
        started = time.perf_counter()
        triggered = process(events, int(time.time() * 1000))
        await publisher.flush()
        done = time.time()
        for trigger, at in triggered.items():
            metrics.VULN_LATENCY.labels(trigger).observe(max(0.0, done - at))
        metrics.STAGE_SECONDS.labels("match").observe(time.perf_counter() - started)
