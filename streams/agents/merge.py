"""merge + score + route: kizuna.indicators -> merge state -> kizuna.contrib.* and kizuna.share.*.

Merging, scoring and routing run in one agent: a separate route hop would add a
Kafka round trip per record for no gain, as routing is a pure function of the
merged state. This agent is the only writer of record state.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

import orjson

from streams import metrics
from streams.agents.base import Context, in_steps
from streams.core.items import Problem, Reason, rejection
from streams.core.merge import (
    Policy,
    Publication,
    State,
    changes,
    fold,
    fold_feedback,
    mark_published,
    outcomes,
    providers,
    upgrade,
    withdraw,
)
from streams.core.normalize import pseudonym
from streams.core.stix_out import encode, hub_identity_id, render
from streams.records import batch_codec
from streams.reputation_feed import ReputationFeed
from streams.state import MergeStores

if TYPE_CHECKING:
    from streams.app import Pipeline

log = logging.getLogger(__name__)

Touched = dict[int, dict[bytes, State]]  # partition -> record id -> state changed by this batch


@dataclass
class Outcome:
    """What one batch published, suppressed and taught the reputation book, and the audit trails."""

    published: list[Publication] = field(default_factory=list)
    suppressed: int = 0
    learned: list[dict[str, Any]] = field(default_factory=list)
    trails: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # provider pseudonym -> deliveries


def _by_audience(pub: Publication) -> tuple[Any, ...]:
    return (pub.audience, pub.tier)


class Merge:
    """The merge step, in the order `handle` runs them: fold the batch into state, publish what
    changed, send the audit trails, write the changelog and reputation events, then the local store.
    The changelog says "published" only once the records are on their topics, and the local store
    only once the changelog is: a crash in between replays the batch identically."""

    def __init__(self, ctx: Context, stores: MergeStores, reputation: ReputationFeed) -> None:
        self.ctx, self.settings, self.topics = ctx, ctx.settings, ctx.topics
        self.stores, self.reputation = stores, reputation
        self.hub = hub_identity_id(self.settings.hub_name)
        self.policy = Policy(self.settings.confirm_threshold, self.settings.republish_step)
        self._topics: dict[tuple[str, Any], str] = {}  # (tier, audience) -> topic, named once

    def topic_of(self, pub: Publication) -> str:
        topic = self._topics.get((pub.tier, pub.audience))
        if topic is None:
            level, target = pub.audience
            topic = self._topics[(pub.tier, pub.audience)] = self.topics.for_tier(pub.tier, level, target)
        return topic

    async def handle(self, events: list[tuple[int, bytes]]) -> Outcome:
        """One batch of (partition, kizuna.indicators message), start to end."""
        started = time.perf_counter()
        touched = await self.fold(events)
        outcome = self.publish_changes(touched)
        self.send_audit(outcome.trails)
        await self.ctx.publisher.flush()
        encoded = self.write_changelog(touched, outcome.learned)
        await self.ctx.publisher.flush()
        self.reputation.apply(outcome.learned)
        await self.store_locally(encoded)
        self.observe(touched, outcome, time.perf_counter() - started)
        return outcome

    def member_of(self, alias: str) -> str | None:
        """The member behind a pseudonym, for its own rejections and audit topics only."""
        return self.ctx.registry().by_alias(lambda member: pseudonym(self.ctx.secret, member)).get(alias)

    async def fold(self, events: list[tuple[int, bytes]]) -> Touched:
        """Records and feedback folded into their state; feedback on a record nobody shared is rejected."""
        codec = batch_codec()
        touched: Touched = {}
        for partition, raw in events:
            store = await self.stores.ready(partition)
            states = touched.setdefault(partition, {})
            try:
                batch = codec.decode(raw)
            except Exception as exc:  # noqa: BLE001 - only the hub writes here: a bug, kept on record, not a crash loop
                log.error("partition %d: a message that is not a NormalizedBatch was skipped (%s)", partition, exc)
                problem = Problem("batch", Reason.MALFORMED,
                                  f"not a kizuna NormalizedBatch record ({type(exc).__name__})")
                self.ctx.reject(None, rejection("unknown", self.ctx.clock(), "unknown", "indicators", problem))
                continue
            for record in batch["records"]:
                key = record["id"].encode()
                state = states.get(key) or upgrade(store.get(key))
                if not record.get("withdrawn"):
                    states[key] = fold(state, record, batch)
                elif state is not None and withdraw(state, batch["reporter"], batch["observed_at"]):
                    states[key] = state
                    metrics.WITHDRAWALS.labels("withdrawn").inc()
                else:
                    metrics.WITHDRAWALS.labels("nothing-to-withdraw").inc()
                    problem = Problem(f"object {record['id']}", Reason.NOTHING_TO_WITHDRAW,
                                      "you never shared this object through this hub: nothing to withdraw")
                    self.ctx.reject(self.member_of(batch["reporter"]),
                                    rejection(batch["submission_id"], batch["observed_at"], batch["reporter"],
                                              "withdrawal", problem))
            for item in batch["feedback"]:
                key = item["id"].encode()
                state = states.get(key) or upgrade(store.get(key))
                if state is None:
                    problem = Problem(f"feedback {item['feedback_id'][:64]}", Reason.UNKNOWN_INDICATOR,
                                      "no shared record has this id or value")
                    bad = rejection(item["feedback_id"], item["observed_at"], item["member"], "feedback", problem)
                    self.ctx.reject(self.member_of(bad["reporter"]), bad)
                elif fold_feedback(state, item):
                    states[key] = state
        return touched

    def publish_changes(self, touched: Touched) -> Outcome:
        """Each changed state's new versions, to every audience it belongs to (routing)."""
        outcome = Outcome()
        for states in touched.values():
            for key, state in states.items():
                pubs = changes(state, self.reputation, self.policy)
                outcome.suppressed += not pubs
                for pub in pubs:
                    topic = self.topic_of(pub)
                    self.ctx.publisher.send(topic, encode(render(state, pub, self.hub)), key)
                    trail = {"id": state["id"], "modified": pub.modified, "topic": topic, "tier": pub.tier,
                             "status": pub.status}
                    if pub.view.get("withdrawn"):
                        trail["cause"] = "withdrawn"
                    for provider in providers(state, pub):
                        outcome.trails.setdefault(provider, []).append(trail)
                outcome.published += pubs
                mark_published(state, pubs)
                outcome.learned += outcomes(state, pubs)
        return outcome

    def send_audit(self, trails: dict[str, list[dict[str, Any]]]) -> None:
        """One audit message per provider and batch: to kizuna.audit and the member's own audit topic."""
        for provider, deliveries in trails.items():
            raw = orjson.dumps(deliveries)
            self.ctx.publisher.send(self.topics.audit, raw, provider.encode())
            member = self.member_of(provider)
            if member is not None:
                self.ctx.publisher.send(self.topics.member_audit(member), raw, provider.encode())

    def write_changelog(self, touched: Touched, learned: list[dict[str, Any]]) -> dict[int, dict[bytes, bytes]]:
        """The new states to the changelog (the durable copy) and the outcomes to kizuna.reputation."""
        encoded = {p: {key: orjson.dumps(state) for key, state in states.items()} for p, states in touched.items()}
        for partition, states in encoded.items():
            for key, raw in states.items():
                self.ctx.publisher.send(self.topics.merge_state, raw, key, partition)
        for event in learned:
            self.ctx.publisher.send(self.topics.reputation, orjson.dumps(event), event["member"].encode())
        return encoded

    async def store_locally(self, encoded: dict[int, dict[bytes, bytes]]) -> None:
        for partition, states in encoded.items():
            store = await self.stores.ready(partition)
            for key, raw in states.items():
                store.put(key, raw)

    def observe(self, touched: Touched, outcome: Outcome, seconds: float) -> None:
        suppressed = outcome.suppressed
        metrics.MERGED.labels("published").inc(sum(len(states) for states in touched.values()) - suppressed)
        metrics.MERGED.labels("suppressed").inc(suppressed)
        now = self.ctx.clock()
        for ((level, sector), tier), group in groupby(sorted(outcome.published, key=_by_audience), key=_by_audience):
            pubs = list(group)
            metrics.PUBLISHED.labels(level.slug, metrics.sector_label(sector), tier).inc(len(pubs))
            if tier == "general":
                for status, count in Counter(pub.status for pub in pubs).items():
                    metrics.STATUS.labels(level.slug, status).inc(count)
            else:
                latency = metrics.LATENCY.labels(level.slug, metrics.sector_label(sector))
                spread = metrics.CONFIDENCE.labels(level.slug)
                for pub in pubs:
                    latency.observe(max(0.0, (now - pub.view["last_seen"]) / 1000))
                    spread.observe(pub.view["confidence"])
        metrics.STAGE_SECONDS.labels("merge").observe(seconds)


def attach(pipeline: Pipeline, step: Merge) -> None:
    settings, topics = step.settings, step.topics

    @pipeline.app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal stubs want **signal
    async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        step.stores.forget({tp.partition for tp in revoked if tp.topic == topics.indicators})

    @pipeline.app.agent(pipeline.indicators)
    async def merge_agent(stream: Any) -> None:
        step.reputation.start()
        # take_events acknowledges a batch only after this loop body finished with it (at-least-once).
        async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
            for part in in_steps(events, settings.step_bytes):
                await step.handle([(event.message.partition, event.value) for event in part])
