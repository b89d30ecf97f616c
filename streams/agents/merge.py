"""merge + route: kizuna.indicators -> merge state -> kizuna.share.<tlp>.<sector>.

Merging and routing run in one agent: a separate route hop would add a Kafka
round trip per record for no gain, as routing is a pure function of the merged state.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from streams import metrics
from streams.app import app, indicators_topic, settings, topics
from streams.core.merge import changes, fold, mark_published
from streams.core.stix_out import encode, hub_identity_id, render
from streams.kafka_io import Publisher
from streams.records import batch_codec
from streams.state import MergeStores

log = logging.getLogger(__name__)
HUB = hub_identity_id(settings.hub_name)
publisher = Publisher(settings, f"{settings.namespace}-merge")
stores = MergeStores(settings, topics.merge_state)


@app.on_partitions_revoked.connect
async def _revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
    stores.forget({tp.partition for tp in revoked if tp.topic == topics.indicators})


@app.agent(indicators_topic)
async def merge_agent(stream: Any) -> None:
    codec = batch_codec()
    async for event in stream.events():
        started = time.perf_counter()
        partition = event.message.partition
        store = await stores.ready(partition)
        batch = codec.decode(event.value)
        touched: dict[str, dict[str, Any]] = {}
        for record in batch["records"]:
            touched[record["id"]] = fold(touched.get(record["id"]) or store.get(record["id"]), record)
        published = []
        for key, state in touched.items():
            pubs = changes(state)
            metrics.MERGED.labels("published" if pubs else "suppressed").inc()
            for pub in pubs:
                level, sector = pub.audience
                publisher.send(topics.share(level, sector), encode(render(state, pub, HUB)), key.encode())
            published += pubs
            mark_published(state, pubs)
        await publisher.flush()
        # The changelog says "published" only once the records are on their topics, and the
        # local store only once the changelog is: a crash in between replays the batch identically.
        encoded = {key: orjson.dumps(state) for key, state in touched.items()}
        for key, raw in encoded.items():
            publisher.send(topics.merge_state, raw, key.encode(), partition)
        await publisher.flush()
        for key, raw in encoded.items():
            store.put(key, raw)
        now = time.time() * 1000
        for pub in published:
            level, sector = pub.audience
            metrics.PUBLISHED.labels(level.slug, sector).inc()
            metrics.LATENCY.labels(level.slug).observe(max(0.0, (now - pub.view["last_seen"]) / 1000))
        metrics.STAGE_SECONDS.labels("merge").observe(time.perf_counter() - started)
