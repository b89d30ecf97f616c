"""normalize: kizuna.intake -> kizuna.indicators (batches per merge partition) + kizuna.rejected."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

from streams import metrics
from streams.agents.base import Context, in_steps
from streams.backlog import MergeBacklog
from streams.core.formats import Limits, parse_submission
from streams.core.items import RETIRED_KEY_TEXT, Problem, Reason, rejection
from streams.core.normalize import Normalized, batches, normalize, pseudonym
from streams.core.reputation import activity
from streams.core.signing import Verdict, sign_feedback, valid_submission
from streams.core.warninglists import Warnings
from streams.records import batch_codec, feedback_codec, submission_codec
from streams.warninglist_cache import load_shared

if TYPE_CHECKING:
    from streams.app import Pipeline

log = logging.getLogger(__name__)


class Normalize:
    """The normalize step: one intake message in, records, rejections, feedback and activity out.
    The warning lists (a shared memory-mapped file) are mapped on first use, unless given."""

    def __init__(self, ctx: Context, warnings: Warnings | None = None) -> None:
        self.ctx, self.settings, self.topics = ctx, ctx.settings, ctx.topics
        self.limits = Limits.of(self.settings)
        if warnings is not None:
            self.warnings = warnings

    @cached_property
    def warnings(self) -> Warnings | None:
        return load_shared(self.settings.warninglist_cache) if self.settings.warninglists else None

    def process(self, raw: bytes) -> tuple[str | None, Normalized]:
        """One intake message -> (the member it is from, or None when unknown or forged; records and
        rejections); an undecodable envelope is itself rejected."""
        secret = self.ctx.secret
        try:
            submission = submission_codec().decode(raw)
        except Exception as exc:  # noqa: BLE001 - a writer that ignored the schema: nothing to attribute it to
            problem = Problem("envelope", Reason.MALFORMED, f"not a kizuna Submission record ({type(exc).__name__})")
            return None, Normalized(rejections=[rejection("unknown", self.ctx.clock(), "unknown", "unknown", problem)])
        reporter = pseudonym(secret, submission["submitter"])
        registry = self.ctx.registry()
        member = registry.get(submission["submitter"])
        if member is None:
            problem = Problem("envelope", Reason.UNKNOWN_MEMBER, "the submitter is not a member of this hub")
            return None, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"],
                                                          reporter, submission["format"], problem)])
        signed = self.ctx.signature(member.id, lambda key: valid_submission(key, submission))
        if not signed.accepted:
            # Reported to the member named as submitter: it learns that someone tried, nothing about who.
            unsigned = "not signed with the submitter's key: submit with the credentials the hub issued to you"
            problem = (Problem("envelope", Reason.RETIRED_KEY, RETIRED_KEY_TEXT.format(who="the submitter"))
                       if signed is Verdict.RETIRED else Problem("envelope", Reason.UNAUTHENTICATED, unsigned))
            return member.id, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"],
                                                               reporter, submission["format"], problem)])
        try:
            parsed = parse_submission(submission["payload"], submission["format"], submission["filename"], self.limits)
        except Exception:  # a parser bug must not stop the stream: reject the submission, keep the evidence
            log.exception("parser failed on submission %s", submission["submission_id"])
            problem = Problem("submission", Reason.MALFORMED, "kizuna could not read this submission (parser error)")
            return member.id, Normalized(rejections=[rejection(submission["submission_id"], submission["received_at"],
                                                               reporter, submission["format"], problem)])
        metrics.SUBMISSIONS.labels(parsed.format).inc()
        metrics.OBJECTS_IN.labels(parsed.format).inc(len(parsed.items))
        return member.id, normalize(submission, parsed, reporter, member.default_tlp, self.warnings,
                                    named=member.name or member.id if member.consent_named else None,
                                    known_recipient=lambda org: registry.get(org) is not None)

    def publish(self, member: str | None, result: Normalized) -> None:
        self.send_records(self.batches(result))
        self.publish_outcome(member, result)

    def batches(self, result: Normalized) -> list[tuple[int, dict[str, Any]]]:
        return batches(result, self.settings.partitions, self.settings.batch_records)

    def send_records(self, some: list[tuple[int, dict[str, Any]]]) -> None:
        codec = batch_codec()
        for partition, batch in some:
            self.ctx.publisher.send(self.topics.indicators, codec.encode(batch), batch["submission_id"].encode(),
                                    partition)

    def publish_outcome(self, member: str | None, result: Normalized) -> None:
        """Everything but the records: rejections and skips, sightings as feedback, the contribution, metrics."""
        publisher = self.ctx.publisher
        for item in result.rejections + result.skipped:  # both on record, told apart by `outcome`
            self.ctx.reject(member, item)
        if result.feedback and member is not None:  # sightings in a submission: the hub signs for its sender
            key = self.ctx.signing_key(member)
            items = [{**item, "signature": sign_feedback(key, item)} for item in result.feedback]
            publisher.send(self.topics.feedback, feedback_codec().encode({"items": items}),
                           result.context["submission_id"].encode())
        shared = [record for record in result.records if not record.get("withdrawn")]
        if shared:  # withdrawals are no contribution
            reporter = result.context["reporter"]
            event = activity(reporter, len(shared), f"submission|{result.context['submission_id']}",
                             result.context["observed_at"])
            publisher.send(self.topics.reputation, orjson.dumps(event), reporter.encode())
        for stix_type, count in Counter(record["stix_type"] for record in shared).items():
            metrics.NORMALIZED.labels(stix_type).inc(count)


def attach(pipeline: Pipeline, step: Normalize) -> None:
    """The live and bulk intake agents, running `step`."""
    settings, publisher = step.settings, step.ctx.publisher

    @pipeline.app.agent(pipeline.intake)
    async def normalize_agent(stream: Any) -> None:
        # take_events acknowledges a batch only after this loop body finished with it (at-least-once).
        async for events in stream.take_events(settings.take_max, within=settings.take_within_s):
            for part in in_steps(events, settings.step_bytes):
                await normalize_step(part)

    async def normalize_step(events: list[Any]) -> None:
        started = time.perf_counter()
        # Parsing is CPU work: off the loop, so the consumer keeps heartbeating.
        results = await asyncio.get_running_loop().run_in_executor(None, lambda: [step.process(e.value)
                                                                                   for e in events])
        for member, result in results:
            step.publish(member, result)
        await publisher.flush()
        metrics.STAGE_SECONDS.labels("normalize").observe(time.perf_counter() - started)
        log.info("normalized %d submissions: %d records, %d rejections, %d skipped", len(results),
                 sum(len(r.records) for _, r in results), sum(len(r.rejections) for _, r in results),
                 sum(len(r.skipped) for _, r in results))

    @pipeline.app.agent(pipeline.intake_bulk)
    async def bulk_agent(stream: Any) -> None:
        """The bulk lane: the same normalisation, but its records enter kizuna.indicators a round of
        batches at a time, each only once the merge agents have caught up (streams/backlog.py).
        A live submission therefore waits behind at most KIZUNA_BULK_MAX_BACKLOG batches."""
        loop, backlog = asyncio.get_running_loop(), MergeBacklog(settings)
        async for event in stream.events():
            started = time.perf_counter()
            member, result = await loop.run_in_executor(None, step.process, event.value)
            step.publish_outcome(member, result)
            pending = step.batches(result)
            waited = 0.0
            for start in range(0, len(pending), settings.partitions):
                waited += await backlog.wait_until_small()
                step.send_records(pending[start:start + settings.partitions])
                await publisher.flush()
            await publisher.flush()
            metrics.STAGE_SECONDS.labels("normalize-bulk").observe(time.perf_counter() - started)
            log.info("normalized a bulk submission: %d records, %d rejections, %d skipped, %.1f s held back for "
                     "live traffic", len(result.records), len(result.rejections), len(result.skipped), waited)
