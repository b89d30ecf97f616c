"""merge + score + route: kizuna.indicators -> merge state -> kizuna.contrib.* and kizuna.share.*.

Merging, scoring and routing run in one agent: a separate route hop would add a
Kafka round trip per record for no gain, as routing is a pure function of the
merged state. This agent is the only writer of record state.
"""
from __future__ import annotations

import logging
import time
from itertools import groupby
from typing import Any

import orjson

from streams import members, metrics
from streams.app import app, indicators_topic, settings, topics
from streams.core.items import Problem, Reason, rejection
from streams.core.merge import (Policy, Publication, changes, fold, fold_feedback, mark_published, outcomes, providers,
                                upgrade)
from streams.core.normalize import pseudonym
from streams.core.stix_out import encode, hub_identity_id, render
from streams.kafka_io import Publisher
from streams.records import batch_codec
from streams.reputation_feed import ReputationFeed
from streams.state import MergeStores

log = logging.getLogger(__name__)
HUB = hub_identity_id(settings.hub_name)
SECRET = settings.pseudonym_secret()
POLICY = Policy(settings.confirm_threshold, settings.republish_step)
publisher = Publisher(settings, f"{settings.namespace}-merge")
stores = MergeStores(settings, topics.merge_state)
reputation = ReputationFeed(settings, topics.reputation)
metrics.count_contributors(reputation.book, settings)


def _by_audience(pub: Publication) -> tuple[Any, ...]:
    return (pub.audience, pub.tier)


@app.on_partitions_revoked.connect
async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
    stores.forget({tp.partition for tp in revoked if tp.topic == topics.indicators})


def _member_of(alias: str) -> str | None:
    """The member behind a pseudonym, for its own rejections and audit topics only."""
    return members.load(settings.members_file).by_alias(lambda member: pseudonym(SECRET, member)).get(alias)


def _unknown(item: dict[str, Any]) -> dict[str, Any]:
    problem = Problem(f"feedback {item['feedback_id'][:64]}", Reason.UNKNOWN_INDICATOR,
                      "no shared record has this id or value")
    return rejection(item["feedback_id"], item["observed_at"], item["member"], "feedback", problem)


@app.agent(indicators_topic)
async def merge_agent(stream: Any) -> None:
    codec = batch_codec()
    reputation.start()
    # take_events acknowledges a batch only after this loop body finished with it (at-least-once).
    async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
        started = time.perf_counter()
        touched: dict[int, dict[bytes, dict[str, Any]]] = {}  # partition -> id -> state
        for event in events:
            partition = event.message.partition
            store = await stores.ready(partition)
            states = touched.setdefault(partition, {})
            batch = codec.decode(event.value)
            for record in batch["records"]:
                key = record["id"].encode()
                states[key] = fold(states.get(key) or upgrade(store.get(key)), record, batch)
            for item in batch["feedback"]:
                key = item["id"].encode()
                state = states.get(key) or upgrade(store.get(key))
                if state is None:
                    bad = _unknown(item)
                    raw = orjson.dumps(bad)
                    publisher.send(topics.rejected, raw, bad["reporter"].encode())
                    member = _member_of(bad["reporter"])
                    if member is not None:
                        publisher.send(topics.member_rejected(member), raw, bad["submission_id"].encode())
                    metrics.REJECTIONS.labels(bad["code"]).inc()
                elif fold_feedback(state, item):
                    states[key] = state
        published, suppressed, learned = [], 0, []
        trails: dict[str, list[dict[str, Any]]] = {}  # provider pseudonym -> where its reports went
        for states in touched.values():
            for key, state in states.items():
                pubs = changes(state, reputation, POLICY)
                suppressed += not pubs
                for pub in pubs:
                    level, target = pub.audience
                    topic = topics.for_tier(pub.tier, level, target)
                    publisher.send(topic, encode(render(state, pub, HUB)), key)
                    trail = {"id": state["id"], "modified": pub.modified, "topic": topic, "tier": pub.tier,
                             "status": pub.status}
                    for provider in providers(state, pub.audience):
                        trails.setdefault(provider, []).append(trail)
                published += pubs
                mark_published(state, pubs)
                learned += outcomes(state, pubs)
        for provider, deliveries in trails.items():  # one audit message per provider and batch
            raw = orjson.dumps(deliveries)
            publisher.send(topics.audit, raw, provider.encode())
            member = _member_of(provider)
            if member is not None:
                publisher.send(topics.member_audit(member), raw, provider.encode())
        await publisher.flush()
        # The changelog says "published" only once the records are on their topics, and the
        # local store only once the changelog is: a crash in between replays the batch identically.
        encoded = {p: {key: orjson.dumps(state) for key, state in states.items()} for p, states in touched.items()}
        for partition, states in encoded.items():
            for key, raw in states.items():
                publisher.send(topics.merge_state, raw, key, partition)
        for event in learned:
            publisher.send(topics.reputation, orjson.dumps(event), event["member"].encode())
        await publisher.flush()
        reputation.apply(learned)
        for partition, states in encoded.items():
            store = await stores.ready(partition)
            for key, raw in states.items():
                store.put(key, raw)
        _observe(touched, published, suppressed, time.perf_counter() - started)


def _observe(touched: dict[int, dict[bytes, Any]], published: list[Publication], suppressed: int, seconds: float) -> None:
    metrics.MERGED.labels("published").inc(sum(len(states) for states in touched.values()) - suppressed)
    metrics.MERGED.labels("suppressed").inc(suppressed)
    now = time.time() * 1000
    for ((level, sector), tier), pubs in groupby(sorted(published, key=_by_audience), key=_by_audience):
        pubs = list(pubs)
        metrics.PUBLISHED.labels(level.slug, metrics.sector_label(sector), tier).inc(len(pubs))
        if tier == "general":
            for pub in pubs:
                metrics.STATUS.labels(level.slug, pub.status).inc()
        else:
            latency, spread = metrics.LATENCY.labels(level.slug, metrics.sector_label(sector)), metrics.CONFIDENCE.labels(level.slug)
            for pub in pubs:
                latency.observe(max(0.0, (now - pub.view["last_seen"]) / 1000))
                spread.observe(pub.view["confidence"])
    metrics.STAGE_SECONDS.labels("merge").observe(seconds)
