"""merge + route: kizuna.indicators -> merge state -> kizuna.share.<tlp>.<sector>.

Merging and routing run in one agent: a separate route hop would add a Kafka
round trip per record for no gain, as routing is a pure function of the merged state.
"""
from __future__ import annotations

import logging
import time
from itertools import groupby
from typing import Any

import orjson

from streams import metrics
from streams.app import app, indicators_topic, settings, topics
from streams.core.merge import Publication, changes, fold, mark_published
from streams.core.stix_out import encode, hub_identity_id, render
from streams.kafka_io import Publisher
from streams.records import batch_codec
from streams.state import MergeStores
from streams.tlp import TLP

log = logging.getLogger(__name__)
HUB = hub_identity_id(settings.hub_name)
publisher = Publisher(settings, f"{settings.namespace}-merge")
stores = MergeStores(settings, topics.merge_state)


def _by_audience(pub: Publication) -> tuple[TLP, str]:
    return pub.audience


@app.on_partitions_revoked.connect
async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
    stores.forget({tp.partition for tp in revoked if tp.topic == topics.indicators})


@app.agent(indicators_topic)
async def merge_agent(stream: Any) -> None:
    codec = batch_codec()
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
                states[key] = fold(states.get(key) or store.get(key), record, batch)
        published, suppressed = [], 0
        for states in touched.values():
            for key, state in states.items():
                pubs = changes(state)
                suppressed += not pubs
                for pub in pubs:
                    level, sector = pub.audience
                    publisher.send(topics.share(level, sector), encode(render(state, pub, HUB)), key)
                published += pubs
                mark_published(state, pubs)
        await publisher.flush()
        # The changelog says "published" only once the records are on their topics, and the
        # local store only once the changelog is: a crash in between replays the batch identically.
        encoded = {p: {key: orjson.dumps(state) for key, state in states.items()} for p, states in touched.items()}
        for partition, states in encoded.items():
            for key, raw in states.items():
                publisher.send(topics.merge_state, raw, key, partition)
        await publisher.flush()
        for partition, states in encoded.items():
            store = await stores.ready(partition)
            for key, raw in states.items():
                store.put(key, raw)
        metrics.MERGED.labels("published").inc(sum(len(states) for states in touched.values()) - suppressed)
        metrics.MERGED.labels("suppressed").inc(suppressed)
        now = time.time() * 1000
        for (level, sector), pubs in groupby(sorted(published, key=_by_audience), key=_by_audience):
            latencies = [max(0.0, (now - pub.view["last_seen"]) / 1000) for pub in pubs]
            metrics.PUBLISHED.labels(level.slug, sector).inc(len(latencies))
            latency = metrics.LATENCY.labels(level.slug)
            for seconds in latencies:
                latency.observe(seconds)
        metrics.STAGE_SECONDS.labels("merge").observe(time.perf_counter() - started)
