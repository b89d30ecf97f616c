"""The merge agent's steps on recorded batches (the normalize and feedback steps' own output), no broker."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from streams.agents.base import Context
from streams.agents.feedback import Feedback
from streams.agents.merge import Merge
from streams.agents.normalize import Normalize
from streams.reputation_feed import ReputationFeed
from streams.settings import Settings
from streams.state import MergeStores
from streams.topics import Topics
from tests.agents import test_feedback, test_normalize
from tests.agents.base import NOW_MS, AgentTestCase, Recorder, damaged


def indicator_messages(settings: Settings, step: Normalize | Feedback, raws: list[bytes]) -> list[tuple[int, bytes]]:
    """What `step` writes to kizuna.indicators for `raws`: (partition, message), as the merge agent reads it."""
    recorder = Recorder()
    step.ctx.publisher = recorder
    if isinstance(step, Normalize):
        for raw in raws:
            step.publish(*step.process(raw))
    else:
        step.publish(*step.process(raws))
    return [(s.partition or 0, s.value or b"") for s in recorder.on(Topics(settings.namespace).indicators)]


class TestMerge(AgentTestCase):
    changelog: dict[int, list[tuple[bytes, bytes | None]]] = {}

    def make(self, ctx: Context) -> Merge:
        topics = ctx.topics
        stores = MergeStores(ctx.settings, topics.merge_state, changelog=lambda p: self.changelog.get(p, []))
        return Merge(ctx, stores, ReputationFeed(ctx.settings, topics.reputation))

    def run(self, step: Merge, raws: list[bytes]) -> None:
        partitions = dict(self.partitions)
        asyncio.run(step.handle([(partitions.get(raw, 0), raw) for raw in raws]))

    def damaged(self, good: list[bytes]) -> list[bytes]:
        """Noise and cut-off messages only: kizuna.indicators is written by the hub's own normalize step,
        which has checked every value, so a well-formed batch with a wrong value is a bug elsewhere."""
        return [raw for raw in damaged(good) if raw not in good and not raw.startswith(good[0][:10])] + [
            raw[: len(raw) // 2] for raw in good]

    def _context(self, settings: Settings) -> Context:
        return Context(settings, Recorder(), clock=lambda: NOW_MS)

    def good(self, settings: Settings) -> list[bytes]:
        normalize = Normalize(self._context(settings))
        self.partitions = indicator_messages(settings, normalize, test_normalize.TestNormalize().good(settings))
        return [raw for _, raw in self.partitions]

    def rejected(self, settings: Settings) -> list[bytes]:
        """Feedback on a value nobody shared."""
        feedback = Feedback(self._context(settings))
        return [raw for _, raw in indicator_messages(
            settings, feedback, [test_feedback.signed(settings, "acme", "never-shared.example", "sighting")])]

    @pytest.fixture(autouse=True)
    def _fresh(self) -> None:
        self.partitions: list[tuple[int, bytes]] = []
        self.changelog = {}

    def test_each_step_does_its_part(self, settings: Settings) -> None:
        recorder = Recorder()
        step = self.make(Context(settings, recorder, clock=lambda: NOW_MS))
        events = indicator_messages(settings, Normalize(self._context(settings)),
                                    test_normalize.TestNormalize().good(settings))
        touched = asyncio.run(step.fold(events))
        assert sum(map(len, touched.values())) > 0 and not recorder.sent  # folding publishes nothing
        outcome = step.publish_changes(touched)
        topics = Topics(settings.namespace)
        shared = [s for s in recorder.sent if s.topic.startswith((topics.ns + ".share.", topics.ns + ".contrib."))]
        assert outcome.published and len(shared) == len(recorder.sent)
        step.send_audit(outcome.trails)
        assert recorder.on(topics.audit) and recorder.on(topics.member_audit("acme"))
        encoded = step.write_changelog(touched, outcome.learned)
        assert len(recorder.on(topics.merge_state)) == sum(map(len, encoded.values()))

    def test_a_duplicate_publishes_nothing_new(self, tmp_path: Path, settings: Settings) -> None:
        """The changelog of the first run is the state of the second: the same batch again changes nothing."""
        events = indicator_messages(settings, Normalize(self._context(settings)),
                                    test_normalize.TestNormalize().good(settings))
        first = Recorder()
        asyncio.run(self.make(Context(settings, first, clock=lambda: NOW_MS)).handle(events))
        for sent in first.on(Topics(settings.namespace).merge_state):
            self.changelog.setdefault(sent.partition or 0, []).append((sent.key or b"", sent.value))
        second = Recorder()
        outcome = asyncio.run(self.make(Context(settings, second, clock=lambda: NOW_MS)).handle(events))
        assert not outcome.published and outcome.suppressed == sum(1 for _ in first.on(Topics(settings.namespace)
                                                                                        .merge_state))

    def test_feedback_on_an_unknown_record_is_rejected_to_its_sender(self, settings: Settings) -> None:
        recorder = self.execute(settings, self.rejected(settings))
        topics = Topics(settings.namespace)
        codes = [orjson.loads(s.value or b"")["code"] for s in recorder.on(topics.member_rejected("acme"))]
        assert codes == ["unknown-indicator"]
