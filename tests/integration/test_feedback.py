"""Peer feedback end to end: tiers, confirmation by sightings, revocation, rule 2, bad feedback."""
from __future__ import annotations

import orjson
import pytest

from streams.core.canonical import indicator_id
from streams.core.stix_out import EXTENSION_ID
from streams.sectors import ALL
from streams.tlp import TLP

pytestmark = pytest.mark.integration


def ext(record):
    return record["extensions"][EXTENSION_ID]


def about(records, value):
    return [r for r in records if ext(r).get("value") == value]


def test_contributor_first_then_confirmed_then_revoked(hub):
    value = "feedback-flow.example"
    contrib, share = hub.topics.contrib(TLP.GREEN, ALL), hub.topics.share(TLP.GREEN, ALL)
    hub.submit(f"value\n{value}\n".encode(), member="acme", tlp="green", fmt="csv")
    first = about(hub.read(contrib, expect=1), value)
    assert [(ext(r)["status"], r["confidence"]) for r in first] == [("unconfirmed", 59)]
    assert about(hub.read(share, expect=0, settle=1), value) == []

    hub.feedback(value, member="globex")
    hub.feedback(value, member="hooli", count=12)
    general = about(hub.until(share, lambda rs: about(rs, value)), value)
    # One version, or two when the second sighting lands in a later batch and moves confidence a step.
    assert {ext(r)["status"] for r in general} == {"confirmed"}
    assert general[0]["confidence"] >= 60 and ext(general[0])["sightings"] >= 1

    hub.feedback(value, member="stark", kind="false-positive")
    hub.feedback(value, member="wayne", kind="false-positive")
    general = about(hub.until(share, lambda rs: any(ext(r)["status"] == "revoked" for r in about(rs, value))), value)
    assert ext(general[-1])["status"] == "revoked" and general[-1]["revoked"] is True
    assert general[-1]["id"] == general[0]["id"] and general[-1]["modified"] > general[0]["modified"]
    contributors = about(hub.read(contrib, expect=3), value)
    assert ext(contributors[-1])["status"] == "unconfirmed" and ext(contributors[-1])["false_positives"] == 2


def test_amber_feedback_leaves_the_green_record_alone(hub):
    value = "amber-probe.example"
    contrib = hub.topics.contrib(TLP.GREEN, ALL)
    hub.submit(f"value\n{value}\n".encode(), member="acme", tlp="green", fmt="csv")
    before = about(hub.read(contrib, expect=1), value)
    assert len(before) == 1
    hub.feedback(value, member="globex", tlp="amber")
    hub.feedback(value, member="hooli", kind="confirm", tlp="amber")
    green = about(hub.read(contrib, expect=1, settle=4), value)
    assert green == before  # no new GREEN version: same confidence, same counts
    assert about(hub.read(hub.topics.share(TLP.GREEN, ALL), expect=0, settle=0.5), value) == []
    assert about(hub.read(hub.topics.contrib(TLP.AMBER, ALL), expect=0, settle=0.5), value) == []


def test_stix_sightings_through_intake_are_feedback(hub):
    value = "sighted-in-bundle.example"
    hub.submit(f"value\n{value}\n".encode(), member="initech", tlp="green", fmt="csv")
    bundle = {"type": "bundle", "id": "bundle--9d1c2e7a-3b4f-4a5e-8c6d-7e8f9a0b1c2d", "objects": [
        {"type": "sighting", "spec_version": "2.1", "id": "sighting--4c3b2a19-8d7e-4f6a-9b5c-1d2e3f4a5b6c",
         "created": "2026-11-20T00:00:00.000Z", "modified": "2026-11-20T00:00:00.000Z", "count": 40,
         "sighting_of_ref": indicator_id("domain-name", value),
         "where_sighted_refs": ["identity--1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"]}]}
    hub.submit(orjson.dumps(bundle), member="globex", tlp="green")
    contributors = about(hub.until(hub.topics.contrib(TLP.GREEN, ALL),
                                   lambda rs: any(ext(r)["sightings"] for r in about(rs, value))), value)
    assert ext(contributors[-1])["sightings"] == 40 and ext(contributors[-1])["status"] == "confirmed"
    assert about(hub.until(hub.topics.share(TLP.GREEN, ALL), lambda rs: about(rs, value)), value)
