"""The MISP feed from published records, loaded back with PyMISP; the importer's sources.
Pure parts and a real ZeroMQ publisher; the broker-crossing path is in test_misp_pipeline.py."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import orjson
import pytest
from pymisp import MISPEvent

from connectors.misp import importer
from connectors.misp.feed import build_feed, choose, event_uuid, write_feed
from streams.settings import ConfigError, Settings
from streams.tlp import TLP
from tests.unit.test_stix_out import rendered

FIXTURE = Path(__file__).parent / "fixtures" / "misp_event_amber.json"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """What the pipeline publishes for the fixture event (sector finance), rendered by the hub's own code."""
    return rendered(FIXTURE)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(namespace="feedtest", var_dir=tmp_path / "var", pseudonym_key="k")


def load_feed(directory: Path) -> dict[str, MISPEvent]:
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    events = {}
    for key in manifest:
        event = MISPEvent()
        event.load_file(str(directory / f"{key}.json"))
        events[key] = event
    return events


def values(event: MISPEvent) -> set[tuple[str, str]]:
    return {(a.type, a.value) for a in event.attributes}


def test_feed_loads_back_with_pymisp_and_the_values_round_trip(records, settings, tmp_path):
    write_feed(build_feed(settings, "globex", records), tmp_path / "feed")
    events = load_feed(tmp_path / "feed")
    by_tlp = {next(t.name for t in e.tags if t.name.startswith("tlp:")): e for e in events.values()}
    assert set(by_tlp) == {"tlp:amber", "tlp:amber+strict"}
    amber, strict = by_tlp["tlp:amber"], by_tlp["tlp:amber+strict"]
    assert values(amber) == {
        ("ip-dst", "45.77.65.211"), ("domain", "update-check.example"),
        ("url", "http://update-check.example/gate.php?id=7"),
        ("email-dst", "billing@invoice-notice.example"),
        ("sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("md5", "7d5f1c9a2e3b4c5d6e7f8091a2b3c4d5")}
    assert values(strict) == {("domain", "login-portal.example"), ("ip-dst", "45.77.65.213")}
    assert 'misp-galaxy:attack-pattern="Spearphishing Attachment"' in {t.name for t in amber.tags}
    assert amber.Orgc.name == settings.hub_name and amber.uuid == event_uuid(settings, "globex", TLP.AMBER,
                                                                             amber.date.isoformat())
    assert {int(e.distribution) for e in events.values()} == {0}  # AMBER and narrower stay in the pulling organisation


def test_manifest_and_hashes_are_what_misp_pulls(records, settings, tmp_path):
    write_feed(build_feed(settings, "globex", records), tmp_path)
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    events = load_feed(tmp_path)
    for key, summary in manifest.items():
        assert summary["info"] == events[key].info and summary["Orgc"]["uuid"] == events[key].Orgc.uuid
        assert {t["name"] for t in summary["Tag"]} == {t.name for t in events[key].tags}
    expected = {f"{hashlib.md5(a.value.encode()).hexdigest()},{key}" for key, e in events.items() for a in e.attributes}
    assert set((tmp_path / "hashes.csv").read_text().splitlines()) == expected


def test_export_is_deterministic_and_drops_events_that_left_the_feed(records, settings, tmp_path):
    write_feed(build_feed(settings, "globex", records), tmp_path)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    write_feed(build_feed(settings, "globex", records), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first  # nothing for a pulling instance to fetch
    amber_only = [r for r in records if r["object_marking_refs"] == [TLP.AMBER.marking_id]]
    write_feed(build_feed(settings, "globex", amber_only), tmp_path)
    assert len(load_feed(tmp_path)) == 1 and len(list(tmp_path.glob("*.json"))) == 2  # the event and the manifest


def test_a_revoked_record_is_a_deleted_attribute_and_moves_the_timestamp(records, settings, tmp_path):
    revoked = [dict(r, revoked=True,
                    modified="2026-01-01T00:00:00.000Z") if r.get("name") == "domain-name: update-check.example"
               else r for r in records]
    write_feed(build_feed(settings, "globex", revoked), tmp_path)
    [amber] = [e for e in load_feed(tmp_path).values() if "tlp:amber" in {t.name for t in e.tags}]
    deleted = [a.value for a in amber.attributes if getattr(a, "deleted", False)]
    assert deleted == ["update-check.example"]
    assert amber.timestamp.year == 2026


def test_each_record_once_at_its_widest_live_level():
    green = {"id": "indicator--1", "modified": "2026-01-01T00:00:00.000Z",
             "object_marking_refs": [TLP.GREEN.marking_id]}
    amber = {**green, "modified": "2026-02-01T00:00:00.000Z", "object_marking_refs": [TLP.AMBER.marking_id]}
    gone = {**green, "modified": "2026-03-01T00:00:00.000Z", "revoked": True}
    assert choose([amber, green])["indicator--1"] is green
    assert choose([gone, amber])["indicator--1"] is amber  # a live copy beats a revocation
    assert choose([gone])["indicator--1"] is gone
    assert choose([{"id": "indicator--2", "modified": "x"}]) == {}  # no TLP marking: not a hub record


# --- importer sources --------------------------------------------------------------------------

def test_files_directories_feeds_and_publish_captures(tmp_path):
    event = orjson.loads(FIXTURE.read_bytes())
    (tmp_path / "one.json").write_bytes(orjson.dumps(event))
    (tmp_path / "search.json").write_bytes(orjson.dumps({"response": [event, {"Attribute": []}]}))
    (tmp_path / "manifest.json").write_bytes(orjson.dumps({"x": {"info": "a feed index, skipped"}}))
    capture = tmp_path / "zmq.log"
    capture.write_text("misp_json_self {\"status\": \"alive\"}\n" + "misp_json " + orjson.dumps(event).decode() + "\n")
    found = [*importer.from_path(tmp_path), *importer.from_path(capture)]
    assert [(Path(f.source).name, f.event is not None, f.problem) for f in found] == [
        ("one.json", True, None),
        ("search.json#0", True, None),
        ("search.json#1", False, "not a MISP event ({\"Event\": {...}}, a list of them or a restSearch response)"),
        ("zmq.log:2", True, None),
    ]


def test_rest_position_is_inclusive_of_its_second_without_repeats(tmp_path):
    def stamped(key: str, stamp: int) -> dict:
        return {"Event": {"uuid": key, "timestamp": str(stamp)}}

    position = importer.Position()
    for event in (stamped("a", 100), stamped("b", 200), stamped("c", 200)):
        assert position.is_new(event)
        position.advance(event)
    path = tmp_path / "position.json"
    position.save(path)
    again = importer.Position.load(path)
    assert (again.timestamp, again.at_timestamp) == (200, {"b", "c"})
    assert not again.is_new(stamped("c", 200)) and not again.is_new(stamped("a", 100))
    assert again.is_new(stamped("d", 200)) and again.is_new(stamped("c", 201))
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="damaged"):
        importer.Position.load(path)


def test_zeromq_publish_stream_from_a_real_publisher():
    """A pyzmq PUB socket sends what MISP's ZeroMQ plugin sends: `<topic> <json>` frames."""
    import zmq

    publisher = zmq.Context.instance().socket(zmq.PUB)
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    event = orjson.loads(FIXTURE.read_bytes())
    received: list[importer.Found] = []
    reader = threading.Thread(target=lambda: received.extend(
        importer.from_zmq(f"tcp://127.0.0.1:{port}", max_events=1, idle_timeout_s=10)))
    reader.start()
    deadline = time.monotonic() + 10
    while reader.is_alive() and time.monotonic() < deadline:  # until the subscription has reached the publisher
        publisher.send_string('misp_json_attribute {"Attribute": {"type": "ip-dst", "value": "1.2.3.4"}}')
        publisher.send_string("misp_json " + orjson.dumps(event).decode())
        time.sleep(0.05)
    reader.join(1)
    publisher.close()
    assert len(received) == 1
    assert received[0].event["Event"]["uuid"] == event["Event"]["uuid"]
