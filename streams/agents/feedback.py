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
from streams.core.signing import member_key, valid_feedback
from streams.kafka_io import Publisher
from streams.records import batch_codec, feedback_codec

SECRET = settings.pseudonym_secret()
publisher = Publisher(settings, f"{settings.namespace}-feedback")


def process(raws: list[bytes]) -> tuple[dict[int, list[dict[str, Any]]], list[tuple[str | None, dict[str, Any]]]]:
    """Feedback messages -> valid records per merge partition, and (member id, rejection)."""
    codec, now = feedback_codec(), int(time.time() * 1000)
    registry = members.load(settings.members_file)
    valid: dict[int, list[dict[str, Any]]] = {}
    rejected: list[tuple[str | None, dict[str, Any]]] = []
    for raw in raws:
        try:
            items = codec.decode(raw)["items"]
        except Exception as exc:  # a writer that ignored the schema
            problem = Problem("feedback", Reason.MALFORMED, f"not a kizuna FeedbackBatch record ({type(exc).__name__})")
            rejected.append((None, rejection("unknown", now, "unknown", "feedback", problem)))
            continue
        for item in items:
            member = pseudonym(SECRET, item["member"])
            record, problem = validate(item, registry, member)
            known = item["member"] if registry.get(item["member"]) is not None else None
            if problem is None and not valid_feedback(member_key(SECRET, settings.namespace, item["member"]), item):
                problem = Problem(f"feedback {item['feedback_id'][:64]}", Reason.UNAUTHENTICATED,
                                  "not signed with the sender's key: send with the credentials the hub issued to you")
            if problem is not None:
                rejected.append((known, rejection(item["feedback_id"], now, member, "feedback", problem)))
            else:
                valid.setdefault(merge_partition(record["id"], settings.partitions), []).append(record)
    return valid, rejected


@app.agent(feedback_topic)
async def feedback_agent(stream: Any) -> None:
    codec = batch_codec()
    async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
        started = time.perf_counter()
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
        for member, item in rejected:
            raw = orjson.dumps(item)
            publisher.send(topics.rejected, raw, item["reporter"].encode())
            if member is not None:
                publisher.send(topics.member_rejected(member), raw, item["submission_id"].encode())
            metrics.REJECTIONS.labels(item["code"]).inc()
        await publisher.flush()
        metrics.STAGE_SECONDS.labels("feedback").observe(time.perf_counter() - started)
