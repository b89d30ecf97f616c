"""What the SIEM outputs read from a record: indicators only, the TLP never guessed, bad records
refused with the reason; and the current set a member holds across its topics."""
from __future__ import annotations

import pytest

from connectors.siem.indicator import BadRecord, Current, from_record
from streams.core.stix_out import EXTENSION_ID
from streams.tlp import TLP
from tests.connectors.fixtures.siem_records import NOW, T0, indicator, record


def test_a_record_as_the_hub_renders_it():
    shown = from_record(record("domain-name", "evil.example", confidence=64, tlp=TLP.CLEAR, sightings=2,
                               valid_until=T0 + 5000))
    assert (shown.observable, shown.value, shown.tlp, shown.confidence, shown.status, shown.sightings) == (
        "domain-name", "evil.example", TLP.CLEAR, 64, "confirmed", 2)
    assert shown.pattern == "[domain-name:value = 'evil.example']"
    assert shown.valid_until.isoformat() == "2026-11-18T11:06:45+00:00" and shown.state(NOW) == "expired"


@pytest.mark.parametrize("other", [
    {"type": "malware", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061", "name": "x", "is_family": True},
    [{"id": "indicator--x", "topic": "kizuna.share.green.all"}],  # an audit row on the member's own topic
    {"submission_id": "s", "code": "invalid-value"},  # a rejection
])
def test_other_records_are_not_indicators(other):
    assert from_record(other) is None


def _broken(change):
    shown = record("ipv4-addr", "45.77.65.211")
    change(shown)
    return shown


@pytest.mark.parametrize(("change", "reason"), [
    (lambda r: r.pop("object_marking_refs"), "no TLP marking"),
    (lambda r: r.update(object_marking_refs=["marking-definition--00000000-0000-4000-8000-000000000000"]),
     "no TLP marking"),
    (lambda r: r.update(modified="yesterday"), "modified 'yesterday' is not a UTC timestamp"),
    (lambda r: r.update(modified="2026-11-18T11:06:41"), "is not a UTC timestamp"),
    (lambda r: r["extensions"][EXTENSION_ID].update(status="maybe"), "status 'maybe' is not one of"),
    (lambda r: r.pop("extensions"), "status None is not one of"),
    (lambda r: r.update(confidence=101), "confidence 101 is not 0..100"),
    (lambda r: r.pop("pattern"), "an indicator needs an id and a pattern"),
])
def test_broken_indicators_are_refused_with_the_reason(change, reason):
    with pytest.raises(BadRecord, match=reason):
        from_record(_broken(change))


def test_markings_combine_to_the_most_restrictive():
    shown = record("ipv4-addr", "45.77.65.211", tlp=TLP.CLEAR)
    shown["object_marking_refs"].append(TLP.AMBER.marking_id)
    assert from_record(shown).tlp is TLP.AMBER


def test_current_shows_the_most_restrictive_live_version():
    current = Current()
    green = indicator("domain-name", "evil.example", confidence=70)
    amber = indicator("domain-name", "evil.example", tlp=TLP.AMBER, sector="finance", confidence=85)
    assert current.apply("green", green) and current.apply("amber", amber)
    assert current.representative(green.id, NOW, unconfirmed=False) == amber
    assert not current.apply("amber", indicator("domain-name", "evil.example", modified=T0,
                                                tlp=TLP.AMBER))  # older: a replay
    current.apply("green", indicator("domain-name", "evil.example", status="revoked", modified=T0 + 9000))
    assert current.live(NOW, unconfirmed=True) == []
    assert current.drop_topic("green") == [green.id] and current.live(NOW, unconfirmed=True) == [amber]
