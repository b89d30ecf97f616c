"""The normalize agent's step on recorded submissions, no broker."""
from __future__ import annotations

from pathlib import Path

import orjson

from streams import credentials
from streams.agents.base import Context
from streams.agents.normalize import Normalize
from streams.core.signing import member_key, sign_submission
from streams.intake import envelope
from streams.records import batch_codec, submission_codec
from streams.settings import Settings
from streams.topics import Topics
from tests.agents.base import NOW_MS, ROOT, AgentTestCase, Recorder

BUNDLE = (ROOT / "tests" / "fixtures" / "overlap_bundle.json").read_bytes()
CSV = (ROOT / "tests" / "fixtures" / "overlap.csv").read_bytes()


def signed(settings: Settings, member: str, payload: bytes, filename: str, key_of: str | None = None,
           key: bytes | None = None, **scope: object) -> bytes:
    """An intake message as `kizuna submit` writes it, signed with `key`, else `key_of`'s first key
    (default: the sender's)."""
    key = key or member_key(settings.pseudonym_secret(), settings.namespace, key_of or member)
    record = envelope(member, payload, filename=filename, received_at=NOW_MS, **scope)  # type: ignore[arg-type]
    record["submission_id"] = f"sub-{member}-{filename}"  # deterministic, for the replay check
    record["signature"] = sign_submission(key, record)
    return submission_codec().encode(record)


class TestNormalize(AgentTestCase):
    def make(self, ctx: Context) -> Normalize:
        return Normalize(ctx)

    def run(self, step: Normalize, raws: list[bytes]) -> None:
        for raw in raws:
            step.publish(*step.process(raw))

    def good(self, settings: Settings) -> list[bytes]:
        return [signed(settings, "acme", BUNDLE, "bundle.json", tlp="green"),
                signed(settings, "globex", CSV, "iocs.csv", tlp="amber", sectors=["finance"])]

    def rejected(self, settings: Settings) -> list[bytes]:
        return [signed(settings, "nobody", CSV, "x.csv", tlp="green"),  # not a member
                signed(settings, "acme", CSV, "x.csv", key_of="globex", tlp="green")]  # forged

    def test_records_go_to_their_merge_partition(self, settings: Settings) -> None:
        recorder = self.execute(settings, self.good(settings))
        topics = Topics(settings.namespace)
        batches = recorder.on(topics.indicators)
        assert batches and all(s.partition is not None and 0 <= s.partition < settings.partitions for s in batches)
        records = [r for s in batches for r in batch_codec().decode(s.value or b"")["records"]]
        assert {r["stix_type"] for r in records} >= {"indicator"}
        activity = [orjson.loads(s.value or b"") for s in recorder.on(topics.reputation)]
        assert len(activity) == 2 and all(e["member"] not in ("acme", "globex") for e in activity)

    def test_unknown_and_forged_senders(self, settings: Settings) -> None:
        topics = Topics(settings.namespace)
        stranger, forged = self.rejected(settings)
        recorder = self.execute(settings, [stranger])
        assert [orjson.loads(s.value or b"")["code"] for s in recorder.on(topics.rejected)] == ["unknown-member"]
        assert not recorder.on(topics.indicators)
        recorder = self.execute(settings, [forged])
        codes = [orjson.loads(s.value or b"")["code"] for s in recorder.on(topics.member_rejected("acme"))]
        assert codes == ["unauthenticated"] and not recorder.on(topics.indicators)

    def test_a_rotated_signing_key_is_accepted_during_the_overlap_and_refused_as_retired_after_it(
            self, settings: Settings) -> None:
        """`kizuna members rotate`: the worker reads the member's key generation from the hub's copy of its
        credentials; the clock decides the overlap (no waiting)."""
        settings = settings.model_copy(update={"kafka_security": "sasl_plaintext"})  # no CA needed to issue
        first = credentials.issue(settings, "acme")
        rotated = credentials.issue(settings, "acme", first, overlap_s=3600)
        assert (first.signing_generation, rotated.signing_generation) == (0, 1) and rotated.key != first.key
        topics, until_ms = Topics(settings.namespace), int(rotated.previous_until * 1000)

        def refusals(now_ms: int, key: bytes) -> list[tuple[str, str]]:
            raw = signed(settings, "acme", CSV, f"at-{now_ms}-{key.hex()[:8]}.csv", key=key, tlp="green")
            recorder = Recorder()
            self.run(self.make(Context(settings, recorder, clock=lambda: now_ms)), [raw])
            assert bool(recorder.on(topics.indicators)) != bool(recorder.on(topics.member_rejected("acme")))
            return [(r["code"], r["reason"]) for r in (orjson.loads(s.value or b"")
                                                       for s in recorder.on(topics.member_rejected("acme")))]

        assert refusals(until_ms - 1000, first.key) == [] and refusals(until_ms - 1000, rotated.key) == []
        [(code, reason)] = refusals(until_ms + 1000, first.key)
        assert code == "retired-key" and "retired signing key" in reason and "newest credentials file" in reason
        assert refusals(until_ms + 1000, rotated.key) == []
        assert [c for c, _ in refusals(until_ms - 1000, member_key(settings.pseudonym_secret(), settings.namespace,
                                                                   "acme", 2))] == ["unauthenticated"]

    def test_unusable_submissions_are_rejected_with_a_reason(self, settings: Settings) -> None:
        """Were tests/integration/test_pipeline.py's and test_trust.py's: the same assertions, no broker."""
        bad_json = signed(settings, "acme", b"{oops", "broken.json", fmt="stix", tlp="green")
        no_tlp = signed(settings, "acme", b"value\nno-tlp.example\n", "a.csv", fmt="csv")
        bad_sector = signed(settings, "acme", b"value\nsector.example\n", "b.csv", fmt="csv", tlp="green",
                            sectors=["casinos"])
        no_one = signed(settings, "acme", b"value\nred-nowhere.example\n", "c.csv", fmt="csv", tlp="red")
        stranger = signed(settings, "acme", b"value\nto-stranger.example\n", "d.csv", fmt="csv", tlp="amber",
                          recipients=["mallory"])
        recorder = self.execute(settings, [bad_json, no_tlp, bad_sector, no_one, stranger])
        rejected = [orjson.loads(s.value or b"") for s in recorder.on(Topics(settings.namespace).rejected)]
        codes = {r["submission_id"]: r["code"] for r in rejected}
        ids = [submission_codec().decode(raw)["submission_id"] for raw in (bad_json, no_tlp, bad_sector, no_one,
                                                                           stranger)]
        assert [codes[i] for i in ids] == ["malformed", "no-tlp", "unknown-sector", "red-needs-recipients",
                                           "unknown-recipient"]
        assert not recorder.on(Topics(settings.namespace).indicators)

    def test_warning_lists_are_not_loaded_until_used(self, tmp_path: Path) -> None:
        settings = Settings(namespace="tagents", pseudonym_key="k", var_dir=tmp_path, warninglists=True,
                            members_file=ROOT / "tests" / "fixtures" / "members.yaml")
        step = Normalize(Context(settings, publisher=None))  # type: ignore[arg-type]
        assert "warnings" not in vars(step)
