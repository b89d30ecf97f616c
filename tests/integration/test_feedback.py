"""Peer feedback end to end: tiers, confirmation by independent members, the dispute hold-back,
sightings as relevance, rule 2, bad feedback, and `kizuna explain` (docs/confidence.md)."""
from __future__ import annotations

import subprocess
import sys
import time

import orjson
import pytest

from streams.access import read_book
from streams.core.canonical import indicator_id
from streams.core.explain import explanation
from streams.core.merge import Policy
from streams.core.stix_out import EXTENSION_ID
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP
from streams.trust_cli import read_state

pytestmark = pytest.mark.integration
FOUNDERS = ("acme", "globex", "stark")  # vouched for by the operator; hooli, initech, tyrell, wayne are newcomers


@pytest.fixture(scope="module")
def founded(hub):
    hub.vouch(*FOUNDERS)
    return hub


def explain(hub, value):
    """`kizuna explain VALUE --json` as an operator runs it: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "streams.cli", "explain", value, "--json"], env=hub.worker.env,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    return done.returncode, done.stdout, done.stderr


def explained_until(hub, value, done, timeout=60.0):
    """The record's explanation, read in-process from the merge-state changelog until `done(it)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(hub.settings, indicator_id("domain-name", value))
        shown = explanation(state, read_book(hub.settings), Policy()) if state is not None else None
        if (shown is not None and done(shown)) or time.monotonic() > deadline:
            return shown
        time.sleep(0.5)


def ext(record):
    return record["extensions"][EXTENSION_ID]


def about(records, value):
    return [r for r in records if ext(r).get("value") == value]


def test_contributor_first_then_confirmed_then_held_back_by_one_reliable_dispute(founded):
    hub, value = founded, "feedback-flow.example"
    contrib, share = hub.topics.contrib(TLP.GREEN, ALL), hub.topics.share(TLP.GREEN, ALL)
    hub.submit(f"value\n{value}\n".encode(), member="acme", tlp="green", fmt="csv")
    first = about(hub.read(contrib, expect=1), value)
    # a vouched member alone: -0.8473 + 1.5 * 0.6444 = 0.1194 -> 53
    assert [(ext(r)["status"], r["confidence"]) for r in first] == [("unconfirmed", 53)]

    hub.feedback(value, member="globex", count=12)  # a sighting: relevance, not a second backer
    assert about(hub.read(share, expect=0, settle=3), value) == []
    hub.feedback(value, member="hooli", kind="confirm")  # a newcomer's explicit confirmation: a second group
    general = about(hub.until(share, lambda rs: about(rs, value)), value)
    assert [ext(r)["status"] for r in general] == ["confirmed"]
    # -0.8473 + 0.9667 + 1.5 * 0.2 + 0.25 * 0.6444 * (1 + 0.1 ln 12) = 0.6205 -> 65
    assert general[0]["confidence"] == 65 and ext(general[0])["sightings"] == 12

    hub.feedback(value, member="stark", kind="false-positive")  # one reliable member disputes: revoked at once
    general = about(hub.until(share, lambda rs: any(ext(r)["status"] == "revoked" for r in about(rs, value))), value)
    assert ext(general[-1])["status"] == "revoked" and general[-1]["revoked"] is True
    assert general[-1]["id"] == general[0]["id"] and general[-1]["modified"] > general[0]["modified"]
    contributors = about(hub.read(contrib, expect=3), value)
    assert ext(contributors[-1])["status"] == "unconfirmed" and ext(contributors[-1])["false_positives"] == 1


def test_two_members_without_track_record_never_confirm(founded):
    """The issue's case: two new members, a report and sightings, used to be on every blocklist in 25 s."""
    hub, value = founded, "two-newcomers.example"
    hub.submit(f"value\n{value}\n".encode(), member="hooli", tlp="green", fmt="csv")
    assert about(hub.read(hub.topics.contrib(TLP.GREEN, ALL), expect=1), value)
    hub.feedback(value, member="initech", kind="confirm")
    hub.feedback(value, member="tyrell", count=50)
    shown = explained_until(hub, value, lambda it: len(it["audiences"][0]["members"]) == 3)["audiences"][0]
    assert shown["status"] == "unconfirmed" and shown["backing_groups"] == 1
    assert {m["group"] for m in shown["members"]} == {"newcomers"}
    assert about(hub.read(hub.topics.share(TLP.GREEN, ALL), expect=0, settle=1), value) == []


def test_amber_feedback_leaves_the_green_record_alone(founded):
    hub = founded
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


def test_stix_sightings_through_intake_are_feedback_and_explain_shows_them(founded):
    hub, value = founded, "sighted-in-bundle.example"
    hub.submit(f"value\n{value}\n".encode(), member="initech", tlp="green", fmt="csv")
    bundle = {"type": "bundle", "id": "bundle--9d1c2e7a-3b4f-4a5e-8c6d-7e8f9a0b1c2d", "objects": [
        {"type": "sighting", "spec_version": "2.1", "id": "sighting--4c3b2a19-8d7e-4f6a-9b5c-1d2e3f4a5b6c",
         "created": "2026-11-20T00:00:00.000Z", "modified": "2026-11-20T00:00:00.000Z", "count": 40,
         "sighting_of_ref": indicator_id("domain-name", value),
         "where_sighted_refs": ["identity--1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"]}]}
    hub.submit(orjson.dumps(bundle), member="globex", tlp="green")
    # a sighting moves confidence less than a step, so no new version: ask the merge state
    explained_until(hub, value, lambda it: any("sighting×40" in m["signals"] for m in it["audiences"][0]["members"]))
    code, out, err = explain(hub, value)
    assert code == 0, err
    shown = orjson.loads(out)
    green = shown["audiences"][0]
    assert (green["tlp"], green["audience"], green["status"]) == ("green", "all", "unconfirmed")
    # the newcomer's report and the vouched member's sighting, as terms that sum to the confidence
    assert [t["rule"] for t in green["terms"]] == ["prior", "backing", "relevance"]
    assert [t["group"] for t in green["terms"]][1] == "newcomers"
    assert any(reason["en"].startswith("1 independent group") for reason in green["why"])
    assert all(reason["ja"] for reason in green["why"])
    text = orjson.dumps(shown).decode()
    for name in ("initech", "globex", "acme", "hooli", "stark"):  # members show as pseudonym labels only
        assert name not in text
    assert about(hub.read(hub.topics.share(TLP.GREEN, ALL), expect=0, settle=1), value) == []
    assert explain(hub, "never-reported.example")[0] == 3

