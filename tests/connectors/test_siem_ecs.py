"""ECS output parsed back against the official ECS field reference (ecs_flat.yml of ECS 9.4.0,
vendored in fixtures/): every field emitted exists, has the field's type, and takes only the
values ECS allows or expects; and each kind lands in the field Elastic matches it on."""
from __future__ import annotations

import gzip
import ipaddress
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from connectors.siem import ecs
from streams.tlp import TLP
from tests.connectors.fixtures.siem_records import NOW, indicator

REFERENCE = Path(__file__).parent / "fixtures" / f"ecs_flat-{ecs.ECS_VERSION}.yml.gz"
LEAF_TYPES = {"object", "flattened", "nested"}  # values ECS keeps whole, not as sub-fields

KINDS = [
    ("ipv4-addr", "45.77.65.211"), ("ipv4-addr", "45.77.0.0/16"), ("ipv6-addr", "2001:4860::8888"),
    ("domain-name", "evil.example"), ("url", "https://evil.example:8443/a/b?x=1&y=2"),
    ("url", "http://[2001:db8::1]/x"),
    ("email-addr", "bad@evil.example"), ("file-md5", "d41d8cd98f00b204e9800998ecf8427e"),
    ("file-sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("file-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), ("file-sha512", "cf83" * 32),
]


@lru_cache(maxsize=1)
def reference() -> dict[str, dict[str, Any]]:
    with gzip.open(REFERENCE) as source:
        return yaml.load(source, Loader=yaml.CSafeLoader)


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    fields = {}
    for key, value in document.items():
        name = prefix + key
        known = reference().get(name)
        if isinstance(value, dict) and not (known and known["type"] in LEAF_TYPES):
            fields |= flatten(value, name + ".")
        else:
            fields[name] = value
    return fields


def _type_problem(kind: str, value: Any) -> str | None:
    if kind in ("keyword", "wildcard", "match_only_text", "constant_keyword"):
        return None if isinstance(value, str) else "not a string"
    if kind == "long":
        return None if isinstance(value, int) and not isinstance(value, bool) else "not an integer"
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return "not an IP address"
        return None
    if kind == "date":
        try:
            return None if datetime.fromisoformat(value).tzinfo else "a date without a time zone"
        except (TypeError, ValueError):
            return "not a date"
    if kind == "object":  # labels: ECS stores every value as a keyword
        return None if all(isinstance(v, str) and "." not in k for k, v in value.items()) else "not keyword pairs"
    return f"type {kind} not checked here"


def ecs_problems(document: dict[str, Any]) -> list[str]:
    """Every way `document` departs from the ECS reference (empty: it conforms)."""
    problems = []
    fields = flatten(document)
    for name, value in fields.items():
        field = reference().get(name)
        if field is None:
            problems.append(f"{name}: not an ECS field")
            continue
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and "array" not in field.get("normalize", []):
            problems.append(f"{name}: ECS does not take an array here")
        allowed = [a["name"] for a in field.get("allowed_values") or []] or field.get("expected_values")
        for item in values:
            if why := _type_problem(field["type"], item):
                problems.append(f"{name}: {item!r} is {why} ({field['type']})")
            if allowed and item not in allowed:
                problems.append(f"{name}: {item!r} is not one of {allowed}")
    for category in fields.get("event.category", []):
        expected = next(a for a in reference()["event.category"]["allowed_values"] if a["name"] == category)
        problems += [f"event.type {t!r} is not expected with category {category!r}"
                     for t in fields.get("event.type", []) if t not in expected["expected_event_types"]]
    return problems


def test_the_reference_is_the_version_the_output_claims():
    assert reference()["threat.indicator.marking.tlp"]["type"] == "keyword"
    assert ecs.document(indicator("domain-name", "evil.example"), NOW,
                        "kizuna hub")["ecs"]["version"] == ecs.ECS_VERSION
    # The checker finds what is wrong: a misspelt field, a wrong type, a value ECS does not expect.
    assert ecs_problems({"threat": {"indicator": {"ip": "evil.example", "confidance": "High", "type": "ip"}}}) == [
        "threat.indicator.ip: 'evil.example' is not an IP address (ip)",
        "threat.indicator.confidance: not an ECS field",
        "threat.indicator.type: 'ip' is not one of " + str(reference()["threat.indicator.type"]["expected_values"]),
    ]


@pytest.mark.parametrize(("kind", "value"), KINDS)
@pytest.mark.parametrize("status", ["confirmed", "unconfirmed", "revoked"])
def test_every_field_emitted_is_ecs(kind, value, status):
    shown = indicator(kind, value, status=status, tlp=TLP.AMBER_STRICT, sightings=3, valid_until=1_800_000_000_000)
    document = orjson.loads(orjson.dumps(ecs.document(shown, NOW, "kizuna hub")))  # as a SIEM reads it
    assert ecs_problems(document) == []


def test_complex_patterns_are_documents_too():
    pattern = "[ipv4-addr:value = '45.77.65.211'] AND [domain-name:value = 'evil.example']"
    document = ecs.document(indicator(None, None, pattern=pattern), NOW, "kizuna hub")
    assert ecs_problems(document) == []
    assert document["threat"]["indicator"]["name"] == pattern and "type" not in document["threat"]["indicator"]


def test_each_kind_lands_where_elastic_matches_it():
    def fields(kind, value):
        return flatten(ecs.document(indicator(kind, value), NOW, "kizuna hub"))

    assert fields("ipv4-addr", "45.77.65.211")["threat.indicator.ip"] == "45.77.65.211"
    assert "threat.indicator.ip" not in fields("ipv4-addr", "45.77.0.0/16")  # an ip field holds one address
    assert fields("domain-name", "evil.example")["threat.indicator.url.domain"] == "evil.example"
    url = fields("url", "https://evil.example:8443/a/b?x=1&y=2")
    assert {k.removeprefix("threat.indicator.url."): v for k, v in url.items() if ".url." in k} == {
        "full": "https://evil.example:8443/a/b?x=1&y=2", "original": "https://evil.example:8443/a/b?x=1&y=2",
        "scheme": "https", "domain": "evil.example", "port": 8443, "path": "/a/b", "query": "x=1&y=2"}
    assert fields("url", "http://[2001:db8::1]/x")["threat.indicator.url.domain"] == "2001:db8::1"
    assert fields("email-addr", "bad@evil.example")["threat.indicator.email.address"] == "bad@evil.example"
    assert fields("file-sha256", "e3b0" * 16)["threat.indicator.file.hash.sha256"] == "e3b0" * 16
    assert fields("file-sha256", "e3b0" * 16)["threat.indicator.type"] == "file"


def test_scoring_marking_and_state():
    shown = indicator("domain-name", "evil.example", confidence=73, tlp=TLP.AMBER_STRICT, sightings=5,
                      valid_until=1_795_050_000_000)
    fields = flatten(ecs.document(shown, NOW, "kizuna hub"))
    assert fields["threat.indicator.confidence"] == "High" and fields["labels"]["kizuna_confidence"] == "73"
    assert fields["threat.indicator.marking.tlp"] == "AMBER+STRICT" and fields["threat.indicator.sightings"] == 5
    assert fields["threat.indicator.id"] == [shown.id] and fields["threat.indicator.provider"] == "kizuna hub"
    assert fields["@timestamp"] == fields["threat.indicator.modified_at"] == "2026-11-18T11:06:41.000Z"
    assert fields["event.action"] == "indicator-expired"  # valid_until (2026-11-18T23:40Z) is before NOW
    assert flatten(ecs.document(indicator("domain-name", "evil.example", status="revoked"), NOW, "x"))[
        "event.action"] == "indicator-revoked"


@pytest.mark.parametrize(("score", "label"), [(None, "Not Specified"), (0, "None"), (1, "Low"), (29, "Low"),
                                              (30, "Medium"), (69, "Medium"), (70, "High"), (100, "High")])
def test_confidence_scale_of_stix_appendix_a(score, label):
    assert ecs.confidence_label(score) == label


@pytest.mark.parametrize("level", [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED])
def test_every_tlp_level_is_an_ecs_marking(level):
    document = ecs.document(indicator("domain-name", "evil.example", tlp=level,
                                      sector="@acme" if level == TLP.RED else "all",
                                      tier="recipient" if level == TLP.RED else "general"), NOW, "kizuna hub")
    assert ecs_problems(document) == []
    assert document["threat"]["indicator"]["marking"]["tlp"] == level.label.removeprefix("TLP:")
