"""feedback: kizuna.feedback -> validated, pseudonymised -> kizuna.indicators (the merge partition
of the record it is about) + kizuna.rejected. The merge agent is the only writer of record state."""
from __future__ import annotations

import hashlib
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from streams import metrics
from streams.agents.base import Context
from streams.core.feedback import validate
from streams.core.items import RETIRED_KEY_TEXT, Problem, Reason, rejection
from streams.core.normalize import merge_partition, pseudonym
from streams.core.reputation import activity
from streams.core.signing import Verdict, valid_feedback
from streams.records import batch_codec, feedback_codec

if TYPE_CHECKING:
    from streams.app import Pipeline

Valid = dict[int, list[dict[str, Any]]]  # merge partition -> feedback records
Rejected = list[tuple[str | None, dict[str, Any]]]  # (member id when known, rejection)


class Feedback:
    """The feedback step: check each report (schema, member, signature), route the good ones to the
    merge partition of their record, reject the rest, and count each member's activity."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.settings, self.topics = ctx, ctx.settings, ctx.topics

    def process(self, raws: list[bytes]) -> tuple[Valid, Rejected]:
        """Feedback messages -> valid records per merge partition, and (member id, rejection)."""
        codec, now, secret = feedback_codec(), self.ctx.clock(), self.ctx.secret
        registry = self.ctx.registry()
        valid: Valid = {}
        rejected: Rejected = []
        for raw in raws:
            try:
                items = codec.decode(raw)["items"]
            except Exception as exc:  # noqa: BLE001 - a writer that ignored the schema
                undecodable = Problem("feedback", Reason.MALFORMED,
                                      f"not a kizuna FeedbackBatch record ({type(exc).__name__})")
                rejected.append((None, rejection("unknown", now, "unknown", "feedback", undecodable)))
                continue
            for item in items:
                member = pseudonym(secret, item["member"])
                record, problem = validate(item, registry, member)
                known = item["member"] if registry.get(item["member"]) is not None else None
                signed = None if problem is not None else self.ctx.signature(item["member"],
                                                                             partial(valid_feedback, item=item))
                if signed is Verdict.RETIRED:
                    problem = Problem(f"feedback {item['feedback_id'][:64]}", Reason.RETIRED_KEY,
                                      RETIRED_KEY_TEXT.format(who="the sender"))
                elif signed is Verdict.INVALID:
                    problem = Problem(f"feedback {item['feedback_id'][:64]}", Reason.UNAUTHENTICATED,
                                      "not signed with the sender's key: send with the credentials the hub issued to "
                                      "you")
                if problem is not None or record is None:
                    assert problem is not None  # validate gives a record or a problem
                    rejected.append((known, rejection(item["feedback_id"], now, member, "feedback", problem)))
                else:
                    valid.setdefault(merge_partition(record["id"], self.settings.partitions), []).append(record)
        return valid, rejected

    def publish(self, valid: Valid, rejected: Rejected) -> None:
        publisher, now = self.ctx.publisher, self.ctx.clock()
        codec = batch_codec()
        given: dict[str, list[str]] = {}
        for partition, records in valid.items():
            batch = {"submission_id": "feedback", "reporter": "", "sectors": [], "observed_at": now,
                     "records": [], "feedback": records}
            publisher.send(self.topics.indicators, codec.encode(batch), b"feedback", partition)
            for record in records:
                given.setdefault(record["member"], []).append(record["feedback_id"])
                metrics.FEEDBACK.labels(record["kind"]).inc()
        for member, ids in given.items():  # one activity event per member and batch, idempotent by its ids
            cause = "feedback|" + hashlib.blake2b("|".join(sorted(ids)).encode(), digest_size=12).hexdigest()
            publisher.send(self.topics.reputation, orjson.dumps(activity(member, len(ids), cause, now)),
                           member.encode())
        for known, item in rejected:
            self.ctx.reject(known, item)


def attach(pipeline: Pipeline, step: Feedback) -> None:
    settings = step.settings

    @pipeline.app.agent(pipeline.feedback)
    async def feedback_agent(stream: Any) -> None:
        async for events in stream.take_events(settings.feedback_take_max, within=settings.take_within_s):
            started = time.perf_counter()
            step.publish(*step.process([e.value for e in events]))
            await step.ctx.publisher.flush()
            metrics.STAGE_SECONDS.labels("feedback").observe(time.perf_counter() - started)
