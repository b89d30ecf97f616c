"""streams.core.signing: key generations and the verdict on a signature, with the clock passed in."""
from __future__ import annotations

import hashlib
import hmac

from streams.core.signing import Keyring, Verdict, member_key, sign_submission, valid_submission, verdict

SECRET, NS = b"hub-secret", "tsign"
ENVELOPE = {"submission_id": "s1", "submitter": "acme", "received_at": 1, "format": "csv", "filename": "x.csv",
            "tlp": "green", "sectors": [], "recipients": [], "payload": b"value\nx.example\n"}


def signed_by(generation: int, member: str = "acme") -> dict:
    return {**ENVELOPE, "signature": sign_submission(member_key(SECRET, NS, member, generation), ENVELOPE)}


def judge(envelope: dict, keyring: Keyring, now_s: float) -> Verdict:
    return verdict(SECRET, NS, "acme", keyring, now_s, lambda key: valid_submission(key, envelope))


def test_generation_zero_is_the_key_issued_before_rotation_existed():
    legacy = hmac.new(SECRET, f"kizuna signing key|{NS}|acme".encode(), hashlib.sha256).digest()
    assert member_key(SECRET, NS, "acme") == member_key(SECRET, NS, "acme", 0) == legacy
    assert len({member_key(SECRET, NS, "acme", g) for g in range(5)}) == 5


def test_the_previous_key_is_accepted_until_the_overlap_ends_then_refused_as_retired():
    keyring = Keyring(generation=2, previous_until=1_000.0)
    assert judge(signed_by(2), keyring, 999.0) is Verdict.CURRENT
    assert judge(signed_by(1), keyring, 999.0) is Verdict.OVERLAP and Verdict.OVERLAP.accepted
    assert judge(signed_by(1), keyring, 1_000.0) is Verdict.RETIRED and not Verdict.RETIRED.accepted
    assert judge(signed_by(0), keyring, 0.0) is Verdict.RETIRED  # older than the previous: never accepted
    assert judge(signed_by(2), keyring, 10**9) is Verdict.CURRENT


def test_a_forgery_or_a_future_generation_is_invalid_not_retired():
    keyring = Keyring(generation=1, previous_until=1_000.0)
    assert judge(signed_by(1, member="globex"), keyring, 0.0) is Verdict.INVALID
    assert judge(signed_by(2), keyring, 0.0) is Verdict.INVALID
    assert judge(ENVELOPE, keyring, 0.0) is Verdict.INVALID  # unsigned
    assert judge(signed_by(0), Keyring(), 0.0) is Verdict.CURRENT
