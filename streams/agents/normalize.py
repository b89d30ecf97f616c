"""normalize: kizuna.intake -> kizuna.indicators (batches per merge partition) + kizuna.rejected."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson

from streams import members, metrics
from streams.app import app, indicators_topic, intake_bulk_topic, intake_topic, settings, topics
from streams.backlog import MergeBacklog
from streams.core.formats import Limits, parse_submission
from streams.core.items import Problem, Reason, rejection
from streams.core.normalize import Normalized, batches, normalize, pseudonym
from streams.core.reputation import activity
from streams.core.signing import member_key, sign_feedback, valid_submission
from streams.core.warninglists import load_misp
from streams.kafka_io import Publisher
from streams.records import batch_codec, feedback_codec, submission_codec

log = logging.getLogger(__name__)
LIMITS = Limits.of(settings)
SECRET = settings.pseudonym_secret()
WARNINGS = load_misp() if settings.warninglists else None
publisher = Publisher(settings, f"{settings.namespace}-normalize")


def process(raw: bytes) -> tuple[str | None, Normalized]:
    """One intake message -> (the member it is from, or None when unknown or forged; records and
    rejections); an undecodable envelope is itself rejected."""
    try:
        submission = submission_codec().decode(raw)
    except Exception as exc:  # a writer that ignored the schema: nothing to attribute it to
        problem = Problem("envelope", Reason.MALFORMED, f"not a kizuna Submission record ({type(exc).__name__})")
        return None, Normalized(rejections=[rejection("unknown", int(time.time() * 1000), "unknown", "unknown", problem)])
    reporter = pseudonym(SECRET, submission["submitter"])
    registry = members.load(settings.members_file)
    member = registry.get(submission["submitter"])
    if member is None:
        problem = Problem("envelope", Reason.UNKNOWN_MEMBER, "the submitter is not a member of this hub")
        return None, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"], reporter,
                                                      submission["format"], problem)])
    if not valid_submission(member_key(SECRET, settings.namespace, member.id), submission):
        # Reported to the member named as submitter: it learns that someone tried, nothing about who.
        problem = Problem("envelope", Reason.UNAUTHENTICATED,
                          "not signed with the submitter's key: submit with the credentials the hub issued to you")
        return member.id, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"],
                                                           reporter, submission["format"], problem)])
    try:
        parsed = parse_submission(submission["payload"], submission["format"], submission["filename"], LIMITS)
    except Exception:  # a parser bug must not stop the stream: reject the submission, keep the evidence
        log.exception("parser failed on submission %s", submission["submission_id"])
        problem = Problem("submission", Reason.MALFORMED, "kizuna could not read this submission (parser error)")
        return member.id, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"],
                                                           reporter, submission["format"], problem)])
    metrics.SUBMISSIONS.labels(parsed.format).inc()
    metrics.OBJECTS_IN.labels(parsed.format).inc(len(parsed.items))
    return member.id, normalize(submission, parsed, reporter, member.default_tlp, WARNINGS,
                                named=member.name or member.id if member.consent_named else None,
                                known_recipient=lambda org: registry.get(org) is not None)


def publish(member: str | None, result: Normalized) -> None:
    send_records(batches(result, settings.partitions, settings.batch_records))
    publish_outcome(member, result)


def send_records(some: list[tuple[int, dict[str, Any]]]) -> None:
    codec = batch_codec()
    for partition, batch in some:
        publisher.send(indicators_topic.get_topic_name(), codec.encode(batch), batch["submission_id"].encode(), partition)


def publish_outcome(member: str | None, result: Normalized) -> None:
    """Everything but the records: rejections and skips, sightings as feedback, the contribution, metrics."""
    feedback = feedback_codec()
    for item in result.rejections + result.skipped:  # both on record, told apart by `outcome`
        raw = orjson.dumps(item)
        publisher.send(topics.rejected, raw, item["reporter"].encode())
        if member is not None:
            publisher.send(topics.member_rejected(member), raw, item["submission_id"].encode())
        (metrics.SKIPS if item["outcome"] == "skipped" else metrics.REJECTIONS).labels(item["code"]).inc()
    if result.feedback:  # Sightings inside a submission: signed by the hub on the submitter's behalf
        key = member_key(SECRET, settings.namespace, member)
        items = [{**item, "signature": sign_feedback(key, item)} for item in result.feedback]
        publisher.send(topics.feedback, feedback.encode({"items": items}), result.context["submission_id"].encode())
    if result.records:
        reporter = result.context["reporter"]
        event = activity(reporter, len(result.records), f"submission|{result.context['submission_id']}",
                         result.context["observed_at"])
        publisher.send(topics.reputation, orjson.dumps(event), reporter.encode())
    for stix_type, count in Counter(record["stix_type"] for record in result.records).items():
        metrics.NORMALIZED.labels(stix_type).inc(count)


@app.agent(intake_topic)
async def normalize_agent(stream: Any) -> None:
    loop = asyncio.get_running_loop()
    # take_events acknowledges a batch only after this loop body finished with it (at-least-once).
    async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
        started = time.perf_counter()
        # Parsing is CPU work: off the loop, so the consumer keeps heartbeating.
        results = await loop.run_in_executor(None, lambda: [process(e.value) for e in events])
        for member, result in results:
            publish(member, result)
        await publisher.flush()
        metrics.STAGE_SECONDS.labels("normalize").observe(time.perf_counter() - started)
        log.info("normalized %d submissions: %d records, %d rejections, %d skipped", len(results),
                 sum(len(r.records) for _, r in results), sum(len(r.rejections) for _, r in results),
                 sum(len(r.skipped) for _, r in results))


@app.agent(intake_bulk_topic)
async def bulk_agent(stream: Any) -> None:
    """The bulk lane: the same normalisation, but its records enter kizuna.indicators a round of
    batches at a time, each only once the merge agents have caught up (streams/backlog.py).
    A live submission therefore waits behind at most KIZUNA_BULK_MAX_BACKLOG batches."""
    loop, backlog = asyncio.get_running_loop(), MergeBacklog(settings)
    async for event in stream.events():
        started = time.perf_counter()
        member, result = await loop.run_in_executor(None, process, event.value)
        publish_outcome(member, result)
        pending = batches(result, settings.partitions, settings.batch_records)
        waited = 0.0
        for start in range(0, len(pending), settings.partitions):
            waited += await backlog.wait_until_small()
            send_records(pending[start:start + settings.partitions])
            await publisher.flush()
        await publisher.flush()
        metrics.STAGE_SECONDS.labels("normalize-bulk").observe(time.perf_counter() - started)
        log.info("normalized a bulk submission: %d records, %d rejections, %d skipped, %.1f s held back for live "
                 "traffic", len(result.records), len(result.rejections), len(result.skipped), waited)
