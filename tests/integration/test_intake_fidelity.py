"""What members really have, through the real broker and worker (issue 12): skips apart from
rejections, STIX observables, custom objects and detection rules, MISP events as vendors publish
them (to_ids false, context, composites, distribution 0), and the ATT&CK for ICS bundle whole."""
from __future__ import annotations

import gzip
import json
import uuid

import orjson
import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from streams.core.stix_out import EXTENSION_ID
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP

pytestmark = pytest.mark.integration
CORPUS = ROOT / "tests" / "corpus"


def valid(obj: dict) -> bool:
    result = validate_string(json.dumps(obj), ValidationOptions(version="2.1", strict=False))
    assert result.is_valid, (obj, [str(e) for e in result.errors])
    return True


def own_outcomes(hub, member: str, submission_id: str, expect: int) -> list[dict]:
    return hub.until(hub.topics.member_rejected(member),
                     lambda rs: len([r for r in rs if r["submission_id"] == submission_id]) >= expect)


def test_observables_custom_objects_rules_and_skips(hub):
    ip, domain = "ipv4-addr--" + str(uuid.uuid4()), "domain-name--" + str(uuid.uuid4())
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--1d6b0e5a-4a4e-4d43-8a8e-7c0a3f0e0001",
         "name": "ACME Power SOC", "identity_class": "organization"},
        {"type": "ipv4-addr", "spec_version": "2.1", "id": ip, "value": "198.51.100.77"},
        {"type": "domain-name", "spec_version": "2.1", "id": domain, "value": "Fidelity-C2.example",
         "resolves_to_refs": [ip]},
        {"type": "infrastructure", "spec_version": "2.1", "id": "infrastructure--2c0f7f1e-52a8-4b61-9d3a-000000000002",
         "name": "fidelity test c2", "infrastructure_types": ["command-and-control"]},
        {"type": "relationship", "spec_version": "2.1", "id": "relationship--3c0f7f1e-52a8-4b61-9d3a-000000000003",
         "relationship_type": "consists-of", "source_ref": "infrastructure--2c0f7f1e-52a8-4b61-9d3a-000000000002",
         "target_ref": domain},
        {"type": "relationship", "spec_version": "2.1", "id": "relationship--4c0f7f1e-52a8-4b61-9d3a-000000000004",
         "relationship_type": "related-to", "source_ref": "infrastructure--2c0f7f1e-52a8-4b61-9d3a-000000000002",
         "target_ref": "identity--1d6b0e5a-4a4e-4d43-8a8e-7c0a3f0e0001"},
        {"type": "x-acme-sensor-note", "spec_version": "2.1",
         "id": "x-acme-sensor-note--5c0f7f1e-52a8-4b61-9d3a-000000000005",
         "created": "2026-11-30T00:00:00.000Z", "modified": "2026-11-30T00:00:00.000Z", "x_acme_rating": 4,
         "summary": "beaconing every 60 s"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--6c0f7f1e-52a8-4b61-9d3a-000000000006",
         "pattern": 'rule fidelity_test { strings: $a = "kizuna-fidelity" condition: $a }', "pattern_type": "yara",
         "valid_from": "2026-11-30T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--7c0f7f1e-52a8-4b61-9d3a-000000000007",
         "pattern": "[ipv4-addr:value = '999.1.1.1']", "pattern_type": "stix", "valid_from": "2026-11-30T00:00:00Z"},
    ]}
    submission_id = hub.submit(orjson.dumps(bundle), member="acme", tlp="green", filename="fidelity.json")
    records = hub.until(hub.topics.contrib(TLP.GREEN, ALL), lambda rs: len({r["id"] for r in rs}) >= 6)
    by_type = {r["type"]: r for r in records}
    assert set(by_type) == {"ipv4-addr", "domain-name", "infrastructure", "relationship", "x-acme-sensor-note",
                            "indicator"}
    # Observables under their STIX 2.1 deterministic ids, over the canonical value; refs rewired to them.
    assert by_type["ipv4-addr"]["id"] == stix2.IPv4Address(value="198.51.100.77").id
    assert by_type["domain-name"]["id"] == stix2.DomainName(value="fidelity-c2.example", resolves_to_refs=[
        stix2.IPv4Address(value="198.51.100.77").id]).id
    assert by_type["relationship"]["target_ref"] == by_type["domain-name"]["id"]
    assert by_type["x-acme-sensor-note"]["x_acme_rating"] == 4  # custom properties intact
    assert by_type["indicator"]["pattern_type"] == "yara" and "kizuna-fidelity" in by_type["indicator"]["pattern"]
    assert all(valid(r) for r in records)
    assert "ACME" not in orjson.dumps(records).decode()
    outcomes = own_outcomes(hub, "acme", submission_id, 3)
    got = sorted((r["outcome"], r["code"]) for r in outcomes if r["submission_id"] == submission_id)
    assert got == [("rejected", "invalid-value"), ("skipped", "withheld"), ("skipped", "withheld-ref")]


def test_a_vendor_misp_event_flows_whole_and_not_for_detection_starts_unconfirmed(hub):
    hub.vouch("globex", "stark")  # two members with a track record: together they can confirm (docs/confidence.md)
    payload = (CORPUS / "misp" / "eset" / "sshdoor_misp-events_borleias.json").read_bytes()
    submission_id = hub.submit(payload, member="globex", tlp="green", filename="borleias.json")
    contrib = hub.topics.contrib(TLP.GREEN, ALL)
    records = hub.until(contrib, lambda rs: any(r["type"] == "report" for r in rs) and len(rs) >= 6)
    by_type: dict[str, list[dict]] = {}
    for record in records:
        by_type.setdefault(record["type"], []).append(record)
    sha1 = next(r for r in by_type["indicator"] if "846cdb8cd32cac0bd6d739746f9368850ff5228d" in r["pattern"])
    extension = sha1["extensions"][EXTENSION_ID]
    assert extension["for_detection"] is False and extension["status"] == "unconfirmed"  # to_ids false: shared
    assert {"network-traffic", "ipv4-addr", "note", "report"} <= set(by_type)  # ip|port as parts; text as a note
    assert by_type["note"][0]["content"] == "Linux/SSHDoor.BZ"
    assert all(valid(r) for r in records)
    outcomes = [r for r in own_outcomes(hub, "globex", submission_id, 0) if r["submission_id"] == submission_id]
    assert [r for r in outcomes if r["outcome"] == "rejected"] == []
    # General members see it once an independent peer backs it: a confirmation (a sighting alone says the value
    # is in use, not that it is malicious). -0.8473 + 1.5·0.6444·0.5 (not for detection) + 1.5·0.6444 -> 65,
    # two independent groups.
    hub.feedback(sha1["id"], member="stark", kind="confirm")
    shared = hub.until(hub.topics.share(TLP.GREEN, ALL), lambda rs: any(r["id"] == sha1["id"] for r in rs))
    assert any(r["id"] == sha1["id"] for r in shared)


def test_a_narrower_misp_distribution_stops_until_overridden(hub):
    event = {"Event": {"uuid": str(uuid.uuid4()), "info": "internal", "distribution": "0", "Attribute": [
        {"uuid": str(uuid.uuid4()), "type": "domain", "value": "org-only-fidelity.example", "to_ids": True}]}}
    stopped = hub.submit(orjson.dumps(event), member="stark", tlp="green", filename="event.json")
    outcomes = own_outcomes(hub, "stark", stopped, 1)
    narrower = [r for r in outcomes if r["submission_id"] == stopped and r["code"] == "distribution-narrower"]
    assert narrower and all("--override-distribution" in r["reason"] for r in narrower)
    hub.submit(orjson.dumps(event), member="stark", tlp="green", filename="event.json", override_distribution=True)
    records = hub.until(hub.topics.contrib(TLP.GREEN, ALL),
                        lambda rs: any("org-only-fidelity.example" in r.get("pattern", "") for r in rs))
    assert any("org-only-fidelity.example" in r.get("pattern", "") for r in records)


def test_attack_for_ics_goes_through_the_bulk_lane_whole(hub):
    payload = gzip.decompress((CORPUS / "stix" / "attack-ics" / "ics-attack.json.gz").read_bytes())
    objects = orjson.loads(payload)["objects"]
    hub.submit(payload, member="wayne", tlp="clear", filename="ics-attack.json", bulk=True)
    # Every object but the documented skips: the identity, its marking, revoked objects and what points at them.
    revoked = {o["id"] for o in objects if o.get("revoked") is True}
    skipped = {o["id"] for o in objects if o["type"] in ("identity", "marking-definition")} | revoked
    skipped |= {o["id"] for o in objects
                if o["type"] == "relationship" and {o["source_ref"], o["target_ref"]} & skipped}
    expected = len(objects) - len(skipped)
    records = hub.read(hub.topics.contrib(TLP.CLEAR, ALL), expect=expected, settle=1, timeout=240)
    records = [r for r in records if "vouch-probe-" not in r.get("pattern", "")]  # Hub.vouch's, on the same topic
    types = {r["type"] for r in records}
    assert len({r["id"] for r in records}) == expected
    assert {"x-mitre-tactic", "x-mitre-asset", "x-mitre-matrix", "attack-pattern"} <= types
    sample = [r for r in records if r["type"].startswith("x-mitre-")][:20]
    assert all(valid(r) for r in sample)


def test_a_revoked_stix_object_and_a_deleted_misp_attribute_withdraw_what_they_shared(hub):
    indicator = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                 "created": "2026-11-30T00:00:00.000Z", "modified": "2026-11-30T00:00:00.000Z",
                 "pattern": "[domain-name:value = 'revoked-fidelity.example']", "pattern_type": "stix",
                 "valid_from": "2026-11-30T00:00:00Z"}
    attribute = {"uuid": str(uuid.uuid4()), "type": "domain", "value": "deleted-fidelity.example", "to_ids": True}
    event = {"Event": {"uuid": str(uuid.uuid4()), "info": "x", "Attribute": [attribute]}}

    def bundle(obj):
        return orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [obj]})

    hub.submit(bundle(indicator), member="wayne", tlp="green")
    hub.submit(orjson.dumps(event), member="wayne", tlp="green", filename="event.json")
    topic = hub.topics.contrib(TLP.GREEN, ALL)

    def versions(records, value):
        return [r for r in records if value in r.get("pattern", "")]

    values = ("revoked-fidelity.example", "deleted-fidelity.example")
    hub.until(topic, lambda rs: all(versions(rs, v) for v in values))
    hub.submit(bundle({**indicator, "revoked": True, "modified": "2026-12-01T00:00:00.000Z"}), member="wayne")
    event["Event"]["Attribute"] = [{**attribute, "deleted": True}]
    hub.submit(orjson.dumps(event), member="wayne", filename="event.json")
    records = hub.until(topic, lambda rs: all(any(r.get("revoked") for r in versions(rs, v)) for v in values))
    for value in values:
        shown = versions(records, value)
        assert [bool(r.get("revoked")) for r in shown] == [False, True], value
        assert shown[1]["id"] == shown[0]["id"] and shown[1]["modified"] > shown[0]["modified"]
        assert valid(shown[1])
