"""The outputs the streaming connector feeds, without a broker: what a one-shot snapshot holds,
what following emits, and when files are (re)written."""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import orjson
import pycef

from connectors.siem.stream import BlocklistOutput, CefOutput, EcsOutput
from tests.connectors.fixtures.siem_records import NOW, T0, indicator

TOPIC = "kizuna.share.green.all"


def _versions():
    return [indicator("domain-name", "kept.example"),
            indicator("domain-name", "refuted.example"),
            indicator("domain-name", "refuted.example", status="revoked", modified=T0 + 5000),
            indicator("ipv4-addr", "45.77.65.211", status="unconfirmed", tier="contributor")]


def test_one_shot_ecs_holds_the_live_set_and_replaces_the_file(tmp_path: Path):
    path = tmp_path / "threat-indicators.ndjson"
    path.write_text("stale content\n")
    output = EcsOutput(path, "kizuna hub", follow=False)
    for version in _versions():
        output.apply(TOPIC, version, NOW)
    assert output.flush(NOW) == 2
    documents = [orjson.loads(line) for line in path.read_text().splitlines()]
    assert sorted(d["threat"]["indicator"]["name"] for d in documents) == ["45.77.65.211", "kept.example"]
    assert {d["event"]["action"] for d in documents} == {"indicator-confirmed", "indicator-unconfirmed"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_following_ecs_appends_every_version_revocations_included(tmp_path: Path):
    path = tmp_path / "threat-indicators.ndjson"
    output = EcsOutput(path, "kizuna hub", follow=True)
    versions = _versions()
    for version in versions[:2]:
        output.apply(TOPIC, version, NOW)
    assert output.flush(NOW) == 2 and output.flush(NOW) is None  # nothing new: nothing written
    for version in versions[2:]:
        output.apply(TOPIC, version, NOW)
    assert output.flush(NOW) == 2
    actions = [(d["threat"]["indicator"]["name"], d["event"]["action"])
               for d in map(orjson.loads, path.read_text().splitlines())]
    assert actions == [("kept.example", "indicator-confirmed"), ("refuted.example", "indicator-confirmed"),
                       ("refuted.example", "indicator-revoked"), ("45.77.65.211", "indicator-unconfirmed")]


def test_cef_without_a_receiver_writes_lines():
    stdout = io.BytesIO()
    output = CefOutput(None, "gw", 16, follow=False, stdout=stdout)
    for version in _versions():
        output.apply(TOPIC, version, NOW)
    assert output.flush(NOW) == 2
    events = [pycef.parse(line) for line in stdout.getvalue().decode().splitlines()]
    assert sorted((e["indicator"], e["status"]) for e in events) == [("45.77.65.211", "unconfirmed"),
                                                                     ("kept.example", "confirmed")]


def test_blocklist_writes_once_caught_up_then_only_on_change(tmp_path: Path):
    output = BlocklistOutput(tmp_path, 1_000_000_000, unconfirmed=False)
    assert output.flush(NOW) == 0 and (tmp_path / "domain-name.txt").read_text() == ""  # an empty list is a list
    assert output.flush(NOW) is None
    output.apply(TOPIC, indicator("domain-name", "kept.example", valid_until=T0 + 2 * 86_400_000), NOW)
    output.apply(TOPIC, indicator("ipv4-addr", "45.77.65.211", status="unconfirmed", tier="contributor"), NOW)
    assert output.flush(NOW) == 1 and (tmp_path / "domain-name.txt").read_text() == "kept.example\n"
    output.apply(TOPIC, indicator("ipv4-addr", "45.77.65.211", status="unconfirmed", tier="contributor",
                                  modified=T0 + 3000), NOW)
    assert output.flush(NOW) is None  # an unlisted indicator changed: the files stay as they are
    assert output.flush(NOW + timedelta(days=1)) == 0  # the clock passed valid_until
    assert (tmp_path / "domain-name.txt").read_text() == ""
    pattern = indicator(None, None,
                        pattern="[ipv4-addr:value = '45.77.65.211'] AND [domain-name:value = 'evil.example']")
    output.apply(TOPIC, pattern, NOW)
    assert output.unlistable == {pattern.id} and output.flush(NOW) is None  # counted for the summary, never listed
