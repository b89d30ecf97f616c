"""Who really sent a submission or a feedback item.

Kafka does not stamp records with the producer's principal, and every member may
write kizuna.intake and kizuna.feedback; without a proof, one member could
submit or report in another's name and move its reputation. Each member gets a
signing key derived from the hub's secret (so the hub stores no per-member key)
and signs what it sends with HMAC-SHA256; the hub recomputes and compares.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson


def member_key(secret: bytes, namespace: str, member: str) -> bytes:
    """The signing key of `member` in `namespace`: a keyed hash, separate from the pseudonym key's use."""
    return hmac.new(secret, f"kizuna signing key|{namespace}|{member}".encode(), hashlib.sha256).digest()


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
