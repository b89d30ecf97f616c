import json

import orjson
import pytest
from stix2validator import ValidationOptions, validate_string

from streams.core.formats import Limits, parse_submission
from streams.core.merge import Policy, changes, fold
from streams.core.normalize import normalize
from streams.core.reputation import Book
from streams.core.stix_out import EXTENSION_ID, hub_identity_id, render, timestamp
from tests.unit.test_formats import FIXTURES

HUB = hub_identity_id("kizuna hub")


def rendered(path):
    sub = {"submission_id": "s", "submitter": "acme", "received_at": 1_763_800_000_123, "format": "auto",
           "filename": path.name, "tlp": "green", "sectors": ["finance"], "payload": path.read_bytes()}
    parsed = parse_submission(sub["payload"], "auto", path.name, Limits(1 << 20, 1000, 64))
    out = []
    result = normalize(sub, parsed, "m-1")
    for record in result.records:
        state = fold(None, record, result.context)
        out += [render(state, pub, HUB) for pub in changes(state, Book(), Policy())]
    return out


@pytest.mark.parametrize("name", ["overlap_bundle.json", "overlap_misp.json", "overlap.csv"])
def test_every_output_passes_stix2_validator(name):
    objects = rendered(FIXTURES / name)
    assert objects
    for obj in objects:
        result = validate_string(json.dumps(obj), ValidationOptions(version="2.1", strict=False))
        assert result.is_valid, (obj, [str(e) for e in result.errors])


def test_outputs_are_attributed_to_the_hub_with_tlp2_markings():
    for obj in rendered(FIXTURES / "overlap_bundle.json"):
        assert obj["created_by_ref"] == HUB
        assert obj["object_marking_refs"] == ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
        assert obj["extensions"][EXTENSION_ID]["sector"] == "finance"


def test_no_provider_identity_in_outputs():
    text = orjson.dumps(rendered(FIXTURES / "overlap_misp.json") + rendered(FIXTURES / "overlap_bundle.json")).decode()
    for secret in ("acme", "ACME", "analyst@", "INC-4711", "acme-ticketing"):
        assert secret not in text


def test_timestamps_are_millisecond_rfc3339():
    assert timestamp(1_763_800_000_123) == "2025-11-22T08:26:40.123Z"


def test_extension_definition_and_schema_match_the_output():
    import jsonschema

    from streams.records import SCHEMA_DIR

    definition = json.loads((SCHEMA_DIR / "kizuna-extension.json").read_text())
    assert definition["id"] == EXTENSION_ID and definition["created_by_ref"] == HUB
    assert validate_string(json.dumps(definition), ValidationOptions(version="2.1")).is_valid
    schema = json.loads((SCHEMA_DIR / "kizuna-extension.schema.json").read_text())
    for name in ("overlap_bundle.json", "overlap_misp.json", "overlap.csv"):
        for obj in rendered(FIXTURES / name):
            jsonschema.validate(obj["extensions"][EXTENSION_ID], schema)


def test_a_revocation_after_a_withdrawal_is_valid_stix_and_matches_the_extension_schema():
    """Every object kind of the fixtures, shared then withdrawn: the last version is revoked, says why, and
    keeps the first version's `created`; connectors (SIEM, MISP feed, TAXII) read `revoked` as such."""
    import jsonschema

    from streams.core.merge import mark_published, withdraw
    from streams.records import SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / "kizuna-extension.schema.json").read_text())
    path = FIXTURES / "overlap_bundle.json"
    sub = {"submission_id": "s", "submitter": "acme", "received_at": 1_763_800_000_123, "format": "auto",
           "filename": path.name, "tlp": "green", "sectors": [], "payload": path.read_bytes()}
    result = normalize(sub, parse_submission(sub["payload"], "auto", path.name, Limits(1 << 20, 1000, 64)), "m-1")
    assert len({r["stix_type"] for r in result.records}) > 1
    for record in result.records:
        state = fold(None, record, result.context)
        first = changes(state, Book(), Policy())
        mark_published(state, first)
        withdraw(state, "m-1", 1_763_900_000_000)
        (revocation,) = changes(state, Book(), Policy())
        obj = render(state, revocation, HUB)
        assert obj["revoked"] is True and obj["created"] == render(state, first[0], HUB)["created"]
        assert obj["modified"] == timestamp(1_763_900_000_000)
        jsonschema.validate(obj["extensions"][EXTENSION_ID], schema)
        result_ = validate_string(json.dumps(obj), ValidationOptions(version="2.1", strict=False))
        assert result_.is_valid, (obj, [str(e) for e in result_.errors])
