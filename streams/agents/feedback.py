"""feedback: kizuna.feedback -> validated, pseudonymised -> kizuna.indicators (the merge partition
of the record it is about) + kizuna.rejected. The merge agent is the only writer of record state."""
from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from streams import members, metrics
from streams.app import app, feedback_topic, indicators_topic, settings, topics
from streams.core.feedback import validate
from streams.core.items import Problem, Reason, rejection
from streams.core.normalize import merge_partition, pseudonym
from streams.core.reputation import activity
from streams.kafka_io import Publisher
from streams.records import batch_codec, feedback_codec

SECRET = settings.pseudonym_secret()
REGISTRY = members.load(settings.members_file)
publisher = Publisher(settings, f"{settings.namespace}-feedback")


def process(raws: list[bytes]) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Feedback messages -> valid records per merge partition, and rejections."""
    codec, now = feedback_codec(), int(time.time() * 1000)
    valid: dict[int, list[dict[str, Any]]] = {}
    rejected = []
    for raw in raws:
        try:
            items = codec.decode(raw)["items"]
        except Exception as exc:  # a writer that ignored the schema
            problem = Problem("feedback", Reason.MALFORMED, f"not a kizuna FeedbackBatch record ({type(exc).__name__})")
            rejected.append(rejection("unknown", now, "unknown", "feedback", problem))
            continue
        for item in items:
            member = pseudonym(SECRET, item["member"])
            record, problem = validate(item, REGISTRY, member)
            if problem is not None:
                rejected.append(rejection(item["feedback_id"], now, member, "feedback", problem))
            else:
                valid.setdefault(merge_partition(record["id"], settings.partitions), []).append(record)
    return valid, rejected


@app.agent(feedback_topic)
async def feedback_agent(stream: Any) -> None:
    codec = batch_codec()
    async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
        valid, rejected = process([e.value for e in events])
        now = int(time.time() * 1000)
        given: dict[str, list[str]] = {}
        for partition, records in valid.items():
            batch = {"submission_id": "feedback", "reporter": "", "sectors": [], "observed_at": now,
                     "records": [], "feedback": records}
            publisher.send(indicators_topic.get_topic_name(), codec.encode(batch), b"feedback", partition)
            for record in records:
                given.setdefault(record["member"], []).append(record["feedback_id"])
                metrics.FEEDBACK.labels(record["kind"]).inc()
        for member, ids in given.items():  # one activity event per member and batch, idempotent by its ids
            cause = "feedback|" + hashlib.blake2b("|".join(sorted(ids)).encode(), digest_size=12).hexdigest()
            publisher.send(topics.reputation, orjson.dumps(activity(member, len(ids), cause, now)), member.encode())
        for item in rejected:
            publisher.send(topics.rejected, orjson.dumps(item), item["reporter"].encode())
            metrics.REJECTIONS.labels(item["code"]).inc()
        await publisher.flush()
