"""The feedback agent's step on recorded feedback, no broker."""
from __future__ import annotations

import orjson

from streams.agents.base import Context
from streams.agents.feedback import Feedback
from streams.core.signing import member_key, sign_feedback
from streams.intake import feedback_item
from streams.records import batch_codec, feedback_codec
from streams.settings import Settings
from streams.topics import Topics
from tests.agents.base import NOW_MS, AgentTestCase


def signed(settings: Settings, member: str, indicator: str, kind: str, key_of: str | None = None) -> bytes:
    """A kizuna.feedback message as `kizuna feedback` writes it."""
    item = feedback_item(member, indicator, kind, tlp="green", observed_at=NOW_MS)
    item["feedback_id"] = f"fb-{member}-{kind}-{indicator}"  # deterministic, for the replay check
    item["signature"] = sign_feedback(member_key(settings.pseudonym_secret(), settings.namespace, key_of or member),
                                      item)
    return feedback_codec().encode({"items": [item]})


class TestFeedback(AgentTestCase):
    def make(self, ctx: Context) -> Feedback:
        return Feedback(ctx)

    def run(self, step: Feedback, raws: list[bytes]) -> None:
        step.publish(*step.process(raws))

    def good(self, settings: Settings) -> list[bytes]:
        return [signed(settings, "acme", "evil.example", "sighting"),
                signed(settings, "globex", "45.77.65.211", "false-positive")]

    def rejected(self, settings: Settings) -> list[bytes]:
        return [signed(settings, "acme", "evil.example", "sighting", key_of="globex"),  # forged
                signed(settings, "stranger", "evil.example", "sighting")]

    def test_feedback_reaches_the_merge_partition_of_its_record(self, settings: Settings) -> None:
        recorder = self.execute(settings, self.good(settings))
        topics = Topics(settings.namespace)
        batches = [(s.partition, batch_codec().decode(s.value or b"")) for s in recorder.on(topics.indicators)]
        kinds = sorted(item["kind"] for _, batch in batches for item in batch["feedback"])
        assert kinds == ["false-positive", "sighting"]
        assert all(batch["records"] == [] and batch["observed_at"] == NOW_MS for _, batch in batches)
        activity = [orjson.loads(s.value or b"") for s in recorder.on(topics.reputation)]
        assert sorted(e["count"] for e in activity) == [1, 1]

    def test_forged_feedback_is_told_to_the_member_named(self, settings: Settings) -> None:
        forged, stranger = self.rejected(settings)
        recorder = self.execute(settings, [forged, stranger])
        topics = Topics(settings.namespace)
        assert not recorder.on(topics.indicators)
        assert [orjson.loads(s.value or b"")["code"] for s in recorder.on(topics.member_rejected("acme"))] == [
            "unauthenticated"]
        assert len(recorder.on(topics.rejected)) == 2
