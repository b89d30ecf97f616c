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
from typing import Any, NamedTuple

import orjson

from streams import metrics
from streams.agents.base import Context
from streams.app import Pipeline
from streams.assets import valid
from streams.core.items import RETIRED_KEY_TEXT, Problem, Reason, rejection
from streams.core.normalize import pseudonym
from streams.core.signing import Verdict
from streams.core.stix_out import hub_identity_id
from streams.core.vuln_match import Asset, Catalogue, Decision, View
from streams.core.vuln_model import Advisory, BadSoftware, Software, asset_id, checked
from streams.core.vuln_notice import epoch_time, render, vulnerability_objects

log = logging.getLogger("kizuna.match")


class Message(NamedTuple):
    """What the step needs of a Kafka message (a test builds these directly)."""
    topic: str
    key: bytes | None
    value: bytes | None
    timestamp: float  # seconds since the epoch


class Match:
    """The match step: one batch of advisories and asset changes in, notices and the match log out.
    The catalogue (advisories, the (vendor, product) index, what each member was told) lives here."""

    def __init__(self, ctx: Context, catalogue: Catalogue | None = None) -> None:
        self.ctx, self.settings, self.topics = ctx, ctx.settings, ctx.topics
        self.catalogue = catalogue if catalogue is not None else Catalogue()
        self.hub = hub_identity_id(self.settings.hub_name)

    def rebuild(self) -> None:
        """The catalogue as the compacted topics hold it; decisions made before the restart stand."""
        from streams.kafka_io import read_partition

        catalogue, topics = self.catalogue, self.topics
        for key, value in read_partition(self.settings, topics.vuln_matches, 0):
            org, asset, vulnerability = key.decode().split("|", 2)
            held = orjson.loads(value) if value else None
            catalogue.remember(org, asset, vulnerability, (held["basis"], held["kev"]) if held else None)
        advisories = dict(read_partition(self.settings, topics.vulns, 0))
        for value in advisories.values():
            if value:
                catalogue.put_advisory(Advisory.from_dict(orjson.loads(value)))
        assets = dict(read_partition(self.settings, topics.assets, 0))
        for value in assets.values():
            if value:
                data = orjson.loads(value)
                catalogue.index_asset(Asset(data["org"], data["id"], Software(**data["software"])))

    def asset_change(self, raw: bytes, now: int) -> list[Decision]:
        """Apply one member's change; returns its decisions, or rejects it and returns []."""
        publisher, topics = self.ctx.publisher, self.topics
        try:
            item = orjson.loads(raw)
            member = str(item["member"])
            software = checked(Software(**item["software"])) if item.get("action") == "add" else None
        except (orjson.JSONDecodeError, KeyError, TypeError, BadSoftware):
            self._reject(None, "unknown", Reason.MALFORMED, "not a kizuna asset change", now)
            return []
        known = self.ctx.registry().get(member) is not None
        change_id = str(item.get("change_id", ""))[:64]
        signed = self.ctx.signature(member, lambda key: valid(key, item)) if known else Verdict.INVALID
        if signed is Verdict.RETIRED:
            self._reject(member, change_id, Reason.RETIRED_KEY, RETIRED_KEY_TEXT.format(who="the sender"), now)
            return []
        if not signed.accepted:
            self._reject(member if known else None, change_id, Reason.UNAUTHENTICATED,
                         "not signed with the sender's key: send with the credentials the hub issued to you", now)
            return []
        if software is not None:
            asset = Asset(member, asset_id(member, software), software)
            record = orjson.dumps({"org": member, "id": asset.id, "software": item["software"], "at": item["at"]})
            publisher.send(topics.assets, record, f"{member}|{asset.id}".encode())
            publisher.send(topics.member_assets(member), record, asset.id.encode())
            return self.catalogue.put_asset(asset)
        removed = str(item.get("asset_id", ""))
        publisher.send(topics.assets, None, f"{member}|{removed}".encode())
        publisher.send(topics.member_assets(member), None, removed.encode())
        return self.catalogue.drop_asset(member, removed)

    def _reject(self, member: str | None, change_id: str, code: str, reason: str, now: int) -> None:
        reporter = pseudonym(self.ctx.secret, member) if member else "unknown"
        self.ctx.reject(member, rejection(change_id, now, reporter, "asset", Problem("asset change", code, reason)))

    def deliver(self, decisions: list[Decision], now: int) -> None:
        """Each decision as notice objects in the member's inbox, and what it now holds on the match log."""
        known = {m.id for m in self.ctx.registry().members}
        shared: dict[str, tuple[View | None, list[dict[str, Any]]]] = {}
        for decision in decisions:
            org = decision.asset.org
            if org not in known:
                continue  # no longer a member: its inbox is gone
            if decision.vulnerability not in shared:
                view = self.catalogue.view(decision.vulnerability)
                objects = vulnerability_objects(view, self.hub, epoch_time(now)) if view else []
                shared[decision.vulnerability] = (view, objects)
            view, objects = shared[decision.vulnerability]
            for obj in render(decision, view, self.hub, now, objects) if view else []:
                self.ctx.publisher.send(self.topics.inbox(org), orjson.dumps(obj), obj["id"].encode())
            key = f"{org}|{decision.asset.id}|{decision.vulnerability}".encode()
            held = None if decision.action == "revoke" else orjson.dumps({"basis": decision.basis, "kev": decision.kev})
            self.ctx.publisher.send(self.topics.vuln_matches, held, key)
            metrics.VULN_NOTICES.labels(decision.basis, decision.action).inc()

    def process(self, messages: list[Message], now: int) -> dict[str, float]:
        """One batch: returns the earliest trigger time (s) per trigger kind that produced notices."""
        triggered: dict[str, float] = {}
        for message in messages:
            if message.topic == self.topics.asset_changes:
                decisions, trigger = (self.asset_change(message.value, now), "asset") if message.value else ([], "")
            elif message.value is None:
                decisions = self.catalogue.drop_advisory((message.key or b"").decode())
                trigger = "advisory"
            else:
                advisory = Advisory.from_dict(orjson.loads(message.value))
                metrics.VULN_ADVISORIES.labels(advisory.source).inc()
                decisions = self.catalogue.put_advisory(advisory)
                trigger = "kev" if advisory.source == "kev" else "advisory"
            if decisions and trigger:
                self.deliver(decisions, now)
                triggered[trigger] = min(triggered.get(trigger, message.timestamp), message.timestamp)
        return triggered


def attach(pipeline: Pipeline, step: Match) -> None:
    """The match agent on the advisories and asset-changes topics, running `step`."""
    settings, topics = step.settings, step.topics
    source = pipeline.app.topic(topics.vulns, topics.asset_changes, value_serializer="raw", key_serializer="raw")

    @pipeline.app.agent(source)
    async def match_agent(stream: Any) -> None:
        catalogue = step.catalogue
        await asyncio.get_running_loop().run_in_executor(None, step.rebuild)
        log.info("match: catalogue rebuilt: %d advisories, %d assets, %d notices held",
                 len(catalogue.advisories), len(catalogue.assets), len(catalogue.told))
        async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
            started = time.perf_counter()
            messages = [Message(e.message.topic, e.message.key, e.value, e.message.timestamp) for e in events]
            triggered = step.process(messages, step.ctx.clock())
            await step.ctx.publisher.flush()
            done = time.time()
            for trigger, at in triggered.items():
                metrics.VULN_LATENCY.labels(trigger).observe(max(0.0, done - at))
            metrics.STAGE_SECONDS.labels("match").observe(time.perf_counter() - started)
