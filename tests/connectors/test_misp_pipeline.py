"""MISP through the real pipeline: the importer submits with the member's own login, the worker
converts with misp-stix, and the feed is read back with the recipient's own login."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pymisp import MISPEvent

from connectors.misp import feed, importer
from streams.tlp import TLP

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parent / "fixtures" / "misp_event_amber.json"
LEAKS = ("ACME Power", "acme-power", "k.tanaka", "Kansai", "2211", "Hokuriku", "firewall", "acme",
         "Spear-phishing wave")


def latest(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


def test_misp_event_lands_on_the_topics_of_its_tlp(hub):  # noqa: F811
    report = importer.submit_all(hub.settings, "acme", importer.from_path(FIXTURE), sectors=["electricity"])
    [(_, submission_id)] = report.submitted
    amber = latest(hub.read(hub.topics.contrib(TLP.AMBER, "electricity"), expect=7))
    strict = latest(hub.read(hub.topics.contrib(TLP.AMBER_STRICT, "electricity"), expect=2, settle=0.5))
    values = {r["extensions"][next(iter(r["extensions"]))].get("value") for r in amber.values()}
    assert values == {"45.77.65.211", "update-check.example", "http://update-check.example/gate.php?id=7",
                      "billing@invoice-notice.example",
                      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                      "7d5f1c9a2e3b4c5d6e7f8091a2b3c4d5", None}  # None: the attack pattern
    assert {r["object_marking_refs"][0] for r in amber.values()} == {TLP.AMBER.marking_id}
    assert {r["extensions"][next(iter(r["extensions"]))].get("value") for r in strict.values()} == {
        "login-portal.example", "45.77.65.213", None}  # None: the domain|ip composite's two observables
    assert hub.read(hub.topics.contrib(TLP.GREEN, "electricity"), expect=0, settle=0.5) == []  # never widened
    rejected = [r for r in hub.read(hub.topics.rejected, expect=1) if r["submission_id"] == submission_id]
    assert {(r["where"], r["code"]) for r in rejected if r["outcome"] == "rejected"} == {
        ("attribute 7b100000-0000-4000-8000-000000000006", "red-needs-recipients")}  # distribution 0
    # the text and the lone file name are context now, carried: a note on the event's report, a file observable
    assert {"note", "file", "report"} <= {r["type"] for r in amber.values()}
    text = orjson.dumps([*amber.values(), *strict.values(), *rejected]).decode()
    for leak in LEAKS:
        assert leak not in text


def test_feed_of_a_recipient_loads_back_with_pymisp(hub, tmp_path):  # noqa: F811
    importer.submit_all(hub.settings, "acme", importer.from_path(FIXTURE), recipients=["globex"])
    hub.read(hub.topics.inbox("globex"), expect=10)
    report = feed.export(hub.settings, "globex", tmp_path / "globex")
    manifest = orjson.loads((tmp_path / "globex" / "manifest.json").read_bytes())
    assert report.events == len(manifest) == 3
    events = []
    for key in manifest:
        event = MISPEvent()
        event.load_file(str(tmp_path / "globex" / f"{key}.json"))
        events.append(event)
    by_tlp = {next(t.name for t in e.tags if t.name.startswith("tlp:")): {a.value for a in e.attributes}
              for e in events}
    assert by_tlp == {
        "tlp:amber": {"45.77.65.211", "update-check.example", "http://update-check.example/gate.php?id=7",
                      "billing@invoice-notice.example",
                      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                      "7d5f1c9a2e3b4c5d6e7f8091a2b3c4d5"},
        "tlp:amber+strict": {"login-portal.example", "45.77.65.213"},
        "tlp:red": {"103.44.12.9"},
    }
    text = b"".join(p.read_bytes() for p in (tmp_path / "globex").iterdir()).decode()
    for leak in LEAKS:
        assert leak not in text
    # Someone else's feed: stark was not a recipient and is not in electricity.
    assert feed.export(hub.settings, "stark", tmp_path / "stark").events == 0
