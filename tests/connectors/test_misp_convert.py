"""MISP events through misp-stix into kizuna items: TLP from tags and distribution, nothing that
names the provider, sightings as feedback. Pure functions, no broker."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.formats import Limits, parse_submission
from streams.core.items import Reason
from streams.core.misp_in import level_of
from streams.core.normalize import normalize
from streams.tlp import TLP

FIXTURES = Path(__file__).parent / "fixtures"
LIMITS = Limits(max_bytes=1 << 22, max_objects=10_000, max_depth=64)
# Everything in the fixture that names the provider, its people or its sighting partners.
IDENTITY = ("ACME Power", "acme-power", "k.tanaka", "Kansai grid", "case 2211", "CASE-2211", "1234 5678",
            "Hokuriku", "firewall", "incident notes", "5a1b2c3d-0000-4000-8000-00000000a00")


def event() -> dict:
    return orjson.loads((FIXTURES / "misp_event_amber.json").read_bytes())


def parse(document: dict):
    return parse_submission(orjson.dumps(document), "misp", "event.json", LIMITS)


def by_value(parsed) -> dict:
    return {item.value: item for item in parsed.items if item.value}


def test_a_real_world_event_keeps_its_tlp_per_attribute():
    parsed = parse(event())
    assert parsed.format == "misp"
    levels = {value: item.tlp for value, item in by_value(parsed).items()}
    assert levels == {
        "45.77.65.211": TLP.AMBER, "update-check.example": TLP.AMBER,
        "http://update-check.example/gate.php?id=7": TLP.AMBER,
        "billing@invoice-notice.example": TLP.AMBER,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08": TLP.AMBER,  # inside the file object
        "7d5f1c9a2e3b4c5d6e7f8091a2b3c4d5": TLP.AMBER,
        "login-portal.example": TLP.AMBER_STRICT, "45.77.65.213": TLP.AMBER_STRICT,  # its own tag narrows the event's
        "103.44.12.9": TLP.RED,  # distribution 0, "your organisation only"
    }
    assert by_value(parsed)["login-portal.example"].where == "attribute 7b100000-0000-4000-8000-000000000003"


def test_galaxy_becomes_an_attack_pattern_with_its_public_reference():
    parsed = parse(event())
    [attack] = [item for item in parsed.items if item.stix_type == "attack-pattern"]
    assert attack.tlp is TLP.AMBER
    assert attack.body["name"] == "Spearphishing Attachment"
    assert attack.body["external_references"] == [{"source_name": "mitre-attack", "external_id": "T1566.001"}]


def test_context_attributes_travel_as_context_of_the_event():
    parsed = parse(event())
    assert not [p for p in parsed.problems if not p.skipped]
    by_where = {}
    for item in parsed.items:
        by_where.setdefault(item.where, []).append(item)
    [note] = by_where["attribute 7b100000-0000-4000-8000-000000000007"]  # text: a note on the event's report
    assert note.stix_type == "note" and note.body["content"] == "Lure themed as an overdue electricity invoice"
    [report] = [i for i in parsed.items if i.stix_type == "report"]
    assert note.body["object_refs"] == [report.id] and note.id in report.body["object_refs"]
    [file_name] = by_where["attribute 7b100000-0000-4000-8000-000000000103"]  # a lone file name: a file observable
    assert (file_name.stix_type, file_name.body["name"]) == ("file", "invoice_2026-11.pdf.exe")
    [grouping] = [i for i in parsed.items if i.stix_type == "grouping"]  # the MISP file object: its parts together
    digest = by_value(parsed)["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
    assert {digest.id, file_name.id} <= set(grouping.body["object_refs"])


def test_attributes_not_marked_for_detection_are_shared_flagged():
    document = event()
    document["Event"]["Attribute"][3]["to_ids"] = False  # the gate.php URL
    parsed = parse(document)
    url = by_value(parsed)["http://update-check.example/gate.php?id=7"]
    assert url.for_detection is False
    assert by_value(parsed)["update-check.example"].for_detection is True
    assert not [p for p in parsed.problems if p.where == "attribute 7b100000-0000-4000-8000-000000000004"]


def test_nothing_that_names_the_provider_survives():
    parsed = parse(event())
    text = orjson.dumps([[i.body, i.where,
                          i.value] for i in parsed.items] + [[p.where, p.reason] for p in parsed.problems]
                        + [[s.where, s.source_id] for s in parsed.sightings]).decode()
    for secret in IDENTITY + ("Spear-phishing wave",):
        assert secret not in text


def test_sightings_become_feedback_and_false_positives_are_not_counted():
    parsed = parse(event())
    ip = by_value(parsed)["45.77.65.211"]
    assert [(s.indicator, s.count,
             s.tlp) for s in parsed.sightings] == [(ip.id, 1, TLP.AMBER)] * 2  # two type-0 of three


def test_red_from_distribution_needs_named_recipients():
    parsed = parse(event())
    submission = {"submission_id": "s1", "submitter": "acme", "received_at": 1_793_600_000_000, "tlp": None,
                  "sectors": ["electricity"], "recipients": []}
    result = normalize(submission, parsed, "m-1")
    red = [r for r in result.rejections if r["code"] == Reason.RED_NEEDS_RECIPIENTS]
    assert {r["where"] for r in red} == {"attribute 7b100000-0000-4000-8000-000000000006"}  # ip|port: its parts
    assert {r["tlp"] for r in result.records} == {"amber", "amber-strict"}
    assert len(result.feedback) == 2


def test_custom_galaxy_clusters_are_withheld():
    document = event()
    cluster = document["Event"]["Galaxy"][0]["GalaxyCluster"][0]
    cluster.update(default=False, value="ACME Power red team tooling")
    parsed = parse(document)
    assert not [i for i in parsed.items if i.stix_type == "attack-pattern"]
    withheld = [p for p in parsed.problems if p.code == Reason.WITHHELD]
    assert len(withheld) == 1 and withheld[0].where == "event 0c9a4f3e-5b7d-4e21-9a3c-1f2e3d4c5b6a"


@pytest.mark.parametrize(("event_", "attribute", "expected"), [
    ({"distribution": "1"}, {}, TLP.AMBER),
    ({"distribution": "2"}, {}, TLP.GREEN),
    ({"distribution": 3}, {"distribution": "5"}, TLP.GREEN),  # 5: inherit
    ({"distribution": "3", "Tag": [{"name": "tlp:clear"}]}, {}, TLP.CLEAR),  # CLEAR only from a tag
    ({"distribution": "1", "Tag": [{"name": "tlp:green"}]}, {}, TLP.GREEN),  # the tag says how far
    ({"Tag": [{"name": "tlp:green"}]}, {"distribution": "0"}, TLP.RED),  # 0 and 4 say who: always RED
    ({"distribution": "4", "Tag": [{"name": "tlp:clear"}]}, {}, TLP.RED),
    ({}, {}, None),  # no tag, no distribution: no level, never a guess
])
def test_distribution_levels_never_widen(event_, attribute, expected):
    assert level_of([event_, attribute]) is expected


def test_composites_and_ipv6_go_through_misp_stix():
    document = {"Event": {"uuid": "0c9a4f3e-5b7d-4e21-9a3c-1f2e3d4c5b6b", "Tag": [{"name": "tlp:green"}], "Attribute": [
        {"type": "ip-dst", "value": "2001:db8:4::1"},
        {"type": "hostname|port", "value": "c2.example|8443"},
        {"type": "filename|sha1", "value": "a.exe|DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"},
        {"type": "vulnerability", "value": "CVE-2024-3400"},
        {"type": "ip-dst", "value": "999.1.1.1"},
        {"type": "link", "value": "https://www.virustotal.com/gui/file/x"}]}}
    parsed = parse(document)
    assert {(i.observable, i.value) for i in parsed.items if i.value} == {
        ("ipv6-addr", "2001:db8:4::1"), ("domain-name", "c2.example"),
        ("file-sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709")}
    [vulnerability] = [i for i in parsed.items if i.stix_type == "vulnerability"]
    assert vulnerability.body["external_references"] == [{"source_name": "cve", "external_id": "CVE-2024-3400"}]
    codes = sorted(p.code for p in parsed.problems)
    assert codes == [Reason.INVALID_VALUE]  # the bad address; the link is context, carried as such
    [report] = [i for i in parsed.items if i.stix_type == "report"]
    assert report.body["external_references"] == [{"source_name": "misp-link", "url": "https://www.virustotal.com/gui/file/x"}]
    [traffic] = [i for i in parsed.items if i.stix_type == "network-traffic"]  # hostname|port: the parts, related
    assert traffic.body["dst_port"] == 8443


def test_a_galaxy_misp_stix_cannot_read_costs_the_galaxy_not_the_indicators():
    document = event()
    document["Event"]["Galaxy"][0]["GalaxyCluster"][0]["meta"] = "not an object"
    parsed = parse(document)
    assert "45.77.65.211" in by_value(parsed)
    assert not [i for i in parsed.items if i.stix_type == "attack-pattern"]
    [problem] = [p for p in parsed.problems if p.where == "event 0c9a4f3e-5b7d-4e21-9a3c-1f2e3d4c5b6a"]
    assert problem.code == Reason.MALFORMED and problem.reason.startswith("galaxies left out")


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                             children, max_size=3),
                           max_leaves=10)
attribute_like = st.fixed_dictionaries({
    "type": st.sampled_from(["ip-dst", "domain|ip", "sha256", "vulnerability", "link", "text"]),
    "value": st.text(max_size=40) | st.sampled_from(["45.77.65.211", "a.example|1.2.3.4", "CVE-2024-3400"]),
}, optional={"uuid": st.text(max_size=40) | st.uuids().map(str), "to_ids": json_values, "distribution": json_values,
             "Tag": json_values, "Sighting": st.lists(st.dictionaries(st.sampled_from(["type", "uuid"]), json_values),
                                                      max_size=3),
             "Galaxy": json_values})
event_like = st.fixed_dictionaries({"Event": st.fixed_dictionaries({
    "Attribute": st.lists(attribute_like, max_size=5),
}, optional={"uuid": json_values, "distribution": json_values, "Tag": json_values,
             "Object": st.lists(st.fixed_dictionaries({"Attribute": st.lists(attribute_like, max_size=3)},
                                                      optional={"Tag": json_values}) | json_values, max_size=2),
             "Galaxy": st.lists(st.fixed_dictionaries({"type": json_values, "GalaxyCluster": st.lists(
                 st.fixed_dictionaries({"default": st.just(True), "value": json_values, "type": json_values},
                                       optional={"meta": json_values, "uuid": json_values}), max_size=2)}),
                                max_size=2)})})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like)
def test_hostile_events_never_raise_and_always_say_where(document):
    parsed = parse(document)
    for problem in parsed.problems:
        assert problem.where and problem.code and problem.reason
    for item in parsed.items:
        assert item.id and item.where.startswith(("attribute ", "object ", "event "))
