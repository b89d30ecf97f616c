"""The feedback agent's step on recorded feedback, no broker."""
from __future__ import annotations

import uuid

import orjson

from streams import credentials
from streams.agents.base import Context
from streams.agents.feedback import Feedback
from streams.core.signing import member_key, sign_feedback
from streams.intake import feedback_item
from streams.records import batch_codec, feedback_codec
from streams.settings import Settings
from streams.topics import Topics
from tests.agents.base import NOW_MS, AgentTestCase


def signed(settings: Settings, member: str, indicator: str, kind: str, key_of: str | None = None,
           count: int = 1, key: bytes | None = None) -> bytes:
    """A kizuna.feedback message as `kizuna feedback` writes it."""
    item = feedback_item(member, indicator, kind, count, tlp="green", observed_at=NOW_MS)
    # deterministic for the replay check, and opaque: an id must not carry the member's name
    item["feedback_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{member}|{kind}|{indicator}|{count}|{key_of}"))
    item["signature"] = sign_feedback(key or member_key(settings.pseudonym_secret(), settings.namespace,
                                                        key_of or member), item)
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

    def test_feedback_signed_with_a_retired_key_is_refused_as_such(self, settings: Settings) -> None:
        settings = settings.model_copy(update={"kafka_security": "sasl_plaintext"})  # no CA needed to issue
        first = credentials.issue(settings, "globex")
        rotated = credentials.issue(settings, "globex", first, overlap_s=0)  # no overlap: retired at once
        topics = Topics(settings.namespace)
        recorder = self.execute(settings, [signed(settings, "globex", "evil.example", "sighting", key=first.key),
                                           signed(settings, "globex", "evil.example", "confirm", key=rotated.key)])
        assert [orjson.loads(s.value or b"")["code"] for s in recorder.on(topics.member_rejected("globex"))] == [
            "retired-key"]
        merged = [f for s in recorder.on(topics.indicators) for f in batch_codec().decode(s.value or b"")["feedback"]]
        assert [f["kind"] for f in merged] == ["confirm"]

    def test_bad_feedback_is_rejected_with_the_reason(self, settings: Settings) -> None:
        """Was tests/integration/test_feedback.py's: the same assertions, no broker (unknown-indicator, which
        the merge step decides, is tests/agents/test_merge.py's)."""
        unknown_member = signed(settings, "mallory", "feedback-flow.example", "sighting")
        nonsense = signed(settings, "globex", "feedback-flow.example", "sighting", count=0)
        not_a_value = signed(settings, "globex", "hello world", "sighting")
        recorder = self.execute(settings, [unknown_member, nonsense, not_a_value])
        rejected = [orjson.loads(s.value or b"") for s in recorder.on(Topics(settings.namespace).rejected)]
        assert [r["code"] for r in rejected] == ["unknown-member", "invalid-feedback", "invalid-value"]
        assert "count 0" in rejected[1]["reason"]
        assert b"mallory" not in orjson.dumps(rejected)
