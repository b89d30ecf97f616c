"""Trust end to end: named recipients and TLP:RED, the provider's audit trail, anonymity."""
from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from streams.core.stix_out import EXTENSION_ID
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP

pytestmark = pytest.mark.integration


def test_red_goes_only_to_the_named_recipients(hub):
    value = "red-only.example"
    hub.submit(f"value\n{value}\n".encode(), member="acme", tlp="red", fmt="csv", to=["globex", "hooli"])
    for org in ("globex", "hooli"):
        inbox = [r for r in hub.read(hub.topics.inbox(org), expect=1) if value in orjson.dumps(r).decode()]
        assert len(inbox) == 1
        record = inbox[0]
        assert record["object_marking_refs"] == [TLP.RED.marking_id]
        assert record["extensions"][EXTENSION_ID]["tier"] == "recipient"
        text = orjson.dumps(record).decode()
        assert "globex" not in text and "hooli" not in text and "acme" not in text  # no one learns who else got it
    assert not [r for r in hub.read(hub.topics.inbox("stark"), expect=0,
                                    settle=0.5) if value in orjson.dumps(r).decode()]
    for topic in hub.topics.contrib_topics() + hub.topics.share_topics():
        assert value.encode() not in b"".join(orjson.dumps(r) for r in hub.read(topic, expect=0, settle=0))


def test_audit_shows_a_provider_its_own_deliveries_only(hub):
    hub.submit(b"value\naudited.example\n", member="wayne", tlp="amber", sectors=["finance"], fmt="csv")
    hub.submit(b"value\nsomeone-elses.example\n", member="stark", tlp="green", fmt="csv")
    hub.read(hub.topics.contrib(TLP.AMBER, "finance"), expect=1)
    hub.read(hub.topics.contrib(TLP.GREEN, ALL), expect=1)
    shown = subprocess.run([sys.executable, "-m", "streams.cli", "audit", "--as", "wayne", "--json"],
                           env=hub.worker.env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert shown.returncode == 0, shown.stderr
    topics = {orjson.loads(line)["topic"] for line in shown.stdout.splitlines()}
    assert topics == {hub.topics.contrib(TLP.AMBER, "finance")}  # stark's deliveries are not wayne's business


def test_a_misp_event_with_creator_and_orgs_leaves_no_trace(hub, read_file):
    hub.submit(read_file("overlap_misp.json"), member="hooli", tlp=None, sectors=["ict"])
    records = hub.read(hub.topics.contrib(TLP.GREEN, "ict"), expect=4)
    text = orjson.dumps(records).decode()
    assert records
    for leak in ("analyst@acme-power.example", "ACME Power", "hooli", "Phishing wave"):
        assert leak not in text


def test_a_provider_that_consented_is_named(hub):
    hub.submit(b"value\nnamed-source.example\n", member="tyrell", fmt="csv", tlp=None)
    record = [r for r in hub.read(hub.topics.contrib(TLP.GREEN, ALL), expect=1)
              if "named-source.example" in orjson.dumps(r).decode()][0]
    assert record["extensions"][EXTENSION_ID]["sources"] == ["Tyrell Corp"]
    assert record["created_by_ref"].startswith("identity--")  # still the hub's identity
