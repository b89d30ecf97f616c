"""Who really sent a submission or a feedback item.

Kafka does not stamp records with the producer's principal, and every member may
write kizuna.intake and kizuna.feedback; without a proof, one member could
submit or report in another's name and move its reputation. Each member gets a
signing key derived from the hub's secret and the key's generation (so the hub
stores no per-member key, only the generation) and signs what it sends with
HMAC-SHA256; the hub recomputes and compares.

`kizuna members rotate` moves a member to the next generation. The previous
generation's signatures are accepted until the rotation's overlap ends; after
that, and for every older generation, they are refused as signed by a retired key
(`verdict`), which the hub can tell apart from a forgery because it can derive
every generation.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson


def member_key(secret: bytes, namespace: str, member: str, generation: int = 0) -> bytes:
    """The signing key of `member` in `namespace` of a generation: a keyed hash, separate from the
    pseudonym key's use. Generation 0 (before any rotation) keeps the label of the keys issued before
    rotation existed, so their signatures stay valid."""
    label = f"kizuna signing key|{namespace}|{member}" + (f"|{generation}" if generation else "")
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Keyring:
    """Which of a member's signing keys the hub accepts: the current generation, and the one before it
    while `previous_until` (unix seconds) lies ahead."""

    generation: int = 0
    previous_until: float = 0.0


class Verdict(Enum):
    CURRENT = "current"  # the member's current key
    OVERLAP = "overlap"  # the previous key, within the rotation's overlap: accepted
    RETIRED = "retired"  # a key the member had before, no longer accepted
    INVALID = "invalid"  # no key of this member's, or no signature

    @property
    def accepted(self) -> bool:
        return self in (Verdict.CURRENT, Verdict.OVERLAP)


def verdict(secret: bytes, namespace: str, member: str, keyring: Keyring, now_s: float,
            signed_by: Callable[[bytes], bool]) -> Verdict:
    """Whose key `signed_by` (a check of one key against the message) accepts, newest generation first."""
    if signed_by(member_key(secret, namespace, member, keyring.generation)):
        return Verdict.CURRENT
    for generation in range(keyring.generation - 1, -1, -1):
        if signed_by(member_key(secret, namespace, member, generation)):
            in_overlap = generation == keyring.generation - 1 and now_s < keyring.previous_until
            return Verdict.OVERLAP if in_overlap else Verdict.RETIRED
    return Verdict.INVALID


def _submission_digest(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps([
        "submission", envelope["submission_id"], envelope["submitter"], envelope["received_at"], envelope["format"],
        envelope.get("filename"), envelope.get("tlp"), list(envelope.get("sectors") or ()),
        list(envelope.get("recipients") or ()), hashlib.sha256(envelope["payload"]).hexdigest(),
        # only when set: envelopes signed before the flag existed keep their signatures
        *(["override-distribution"] if envelope.get("override_distribution") else []),
    ])


def _feedback_digest(item: dict[str, Any]) -> bytes:
    return orjson.dumps(["feedback", item["feedback_id"], item["member"], item["kind"], item["indicator"],
                         item.get("count", 1), item.get("tlp"), item["observed_at"]])


def sign_submission(key: bytes, envelope: dict[str, Any]) -> bytes:
    return hmac.new(key, _submission_digest(envelope), hashlib.sha256).digest()


def sign_feedback(key: bytes, item: dict[str, Any]) -> bytes:
    return hmac.new(key, _feedback_digest(item), hashlib.sha256).digest()


def valid_submission(key: bytes, envelope: dict[str, Any]) -> bool:
    signature = envelope.get("signature")
    return signature is not None and hmac.compare_digest(signature, sign_submission(key, envelope))


def valid_feedback(key: bytes, item: dict[str, Any]) -> bool:
    signature = item.get("signature")
    return signature is not None and hmac.compare_digest(signature, sign_feedback(key, item))
