"""End to end through the real broker and worker: intake -> normalize -> merge -> topics.

A single report is unconfirmed: it reaches the contributor tier's topics at once
(kizuna.contrib.*) and general members only once peers confirm it (test_feedback.py).
"""
from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from streams.core.normalize import pseudonym
from streams.core.stix_out import EXTENSION_ID
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP
from tests.harness import PSEUDONYM_KEY

pytestmark = pytest.mark.integration


def by_id(records):
    return {r["id"]: r for r in records}


def test_stix_misp_csv_overlap_gives_one_record_per_indicator(hub, read_file):
    for name in ("overlap_bundle.json", "overlap_misp.json", "overlap.csv"):
        hub.submit(read_file(name), member="acme", tlp="green", sectors=["finance"], filename=name)
    # Distinct: from the bundle 3 simple indicators, 1 complex pattern, an attack-pattern and a relationship;
    # new in MISP login-portal.example and 45.77.65.213, and its context (issue 12): the event's report, the
    # grouping of its file object, the domain|ip composite's two observables, the lone file name's observable;
    # new in the CSV only the gate.php URL.
    topic = hub.topics.contrib(TLP.GREEN, "finance")
    records = hub.read(topic, expect=14)
    assert len(records) == 14, [r.get("name") for r in records]
    assert len(by_id(records)) == 14
    values = {r["extensions"][EXTENSION_ID].get("value") for r in records if r["type"] == "indicator"}
    assert {"45.77.65.211", "update-check.example", "login-portal.example", "45.77.65.213",
            "http://update-check.example/gate.php"} <= values
    # Nothing leaked to other audiences.
    assert hub.read(hub.topics.contrib(TLP.GREEN, ALL), expect=0, settle=1) == []
    assert hub.read(hub.topics.contrib(TLP.GREEN, "electricity"), expect=0, settle=0.5) == []


def test_a_second_reporter_makes_one_new_version(hub):
    payload = b"value\nsecond-reporter.example\n"
    topic = hub.topics.contrib(TLP.GREEN, ALL)

    def mine():
        return [r for r in hub.read(topic, expect=len(seen) + 1)
                if r["extensions"][EXTENSION_ID].get("value") == "second-reporter.example"]

    seen: list = []
    hub.submit(payload, member="acme", tlp="green", fmt="csv")
    seen = mine()
    assert [r["extensions"][EXTENSION_ID]["reporter_count"] for r in seen] == [1]
    hub.submit(payload, member="acme", tlp="green", fmt="csv")  # a repeat: suppressed
    hub.submit(payload, member="globex", tlp="green", fmt="csv")  # corroboration: a new version
    seen = mine()
    assert [r["extensions"][EXTENSION_ID]["reporter_count"] for r in seen] == [1, 2]
    assert seen[0]["id"] == seen[1]["id"] and seen[1]["modified"] > seen[0]["modified"]


def test_mixed_good_and_bad_submission(hub):
    csv = b"type,value\nip,45.77.66.1\ndomain,=cmd|' /C calc'!A0\nmd5,nothex\nurl,hxxp://mixed[.]example/x\n"
    submission_id = hub.submit(csv, member="acme", tlp="amber", sectors=["water"], fmt="csv", filename="mixed.csv")
    records = hub.read(hub.topics.contrib(TLP.AMBER, "water"), expect=2)
    assert sorted(r["extensions"][EXTENSION_ID]["value"] for r in records) == ["45.77.66.1", "http://mixed.example/x"]
    rejected = [r for r in hub.read(hub.topics.rejected, expect=2) if r["submission_id"] == submission_id]
    assert [(r["where"], r["code"]) for r in rejected] == [("line 3", "invalid-value"), ("line 4", "invalid-value")]
    assert all(r["reason"] for r in rejected)
    assert rejected[0]["reporter"] == pseudonym(PSEUDONYM_KEY.encode(), "acme")
    assert b"acme" not in orjson.dumps(rejected)
    # AMBER for water reaches neither GREEN readers nor other sectors.
    assert not any("mixed.example" in orjson.dumps(r).decode()
                   for r in hub.read(hub.topics.contrib(TLP.GREEN, "water"), expect=0, settle=0.5))


def test_state_survives_a_worker_crash(hub):
    payload = b"value\ncrash-survivor.example\n"
    hub.submit(payload, member="acme", tlp="clear", fmt="csv")
    topic = hub.topics.contrib(TLP.CLEAR, ALL)
    assert len(hub.read(topic, expect=1)) == 1
    hub.worker.kill()
    hub.worker.start()
    hub.submit(payload, member="acme", tlp="clear", fmt="csv")  # a duplicate after the restart
    hub.submit(b"value\nafter-restart.example\n", member="acme", tlp="clear", fmt="csv")
    records = hub.read(topic, expect=2, settle=3)
    assert [r["extensions"][EXTENSION_ID]["value"] for r in records] == ["crash-survivor.example",
                                                                         "after-restart.example"]


def test_cli_submit_and_consume(hub, tmp_path):
    env = hub.worker.env
    sample = tmp_path / "report.txt"
    sample.write_text("The loader beacons to hxxps://cli-sample[.]example/beacon and 45.77.67[.]9.\n")
    kizuna = [sys.executable, "-m", "streams.cli"]
    done = subprocess.run([*kizuna, "submit", str(sample), "--as", "acme", "--tlp", "green", "--sector", "gas"],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "2 objects accepted, 0 skipped by policy, 0 rejected" in done.stdout
    shown = subprocess.run([*kizuna, "consume", hub.topics.contrib(TLP.GREEN, "gas"), "--from-beginning",
                            "--max", "2", "--timeout", "30"], env=env, capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = [orjson.loads(line) for line in shown.stdout.splitlines()]
    assert sorted(r["pattern"] for r in lines) == ["[ipv4-addr:value = '45.77.67.9']",
                                                    "[url:value = 'https://cli-sample.example/beacon']"]


def test_cli_exit_codes(hub, tmp_path):
    env = hub.worker.env
    kizuna = [sys.executable, "-m", "streams.cli"]
    partial = tmp_path / "partial.csv"
    partial.write_text("type,value\nip,45.77.68.1\nip,999.0.0.1\n")
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")

    def run(*args):
        return subprocess.run([*kizuna, *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)

    result = run("submit", str(partial), "--as", "acme", "--tlp", "green")
    assert result.returncode == 1 and "line 3" in result.stderr
    result = run("submit", str(broken), "--as", "acme", "--tlp", "green")
    assert result.returncode == 3 and "not valid JSON" in result.stderr
    result = run("submit", str(partial), "--as", "acme", "--tlp", "purple")
    assert result.returncode == 2 and "not a TLP level" in result.stderr
    result = run("submit", str(partial), "--as", "acme", "--tlp", "green", "--sector", "casinos")
    assert result.returncode == 2 and "unknown sector" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_bulk_lane_publishes_everything_and_rejects_with_reasons(hub):
    """A large import on the bulk lane: all of it published (held back only while merging lags),
    its bad lines rejected with where and why, like the live lane."""
    values = [f"bulk-lane-{i}.example" for i in range(3000)]
    submission = hub.submit(("value\n" + "\n".join(values) + "\nnot a value at all\n").encode(), member="acme",
                            tlp="green", fmt="csv", bulk=True)
    wanted = {f"[domain-name:value = '{v}']" for v in values}
    published = hub.until(hub.topics.contrib(TLP.GREEN, ALL),
                          lambda rs: wanted <= {r.get("pattern") for r in rs}, timeout=90)
    assert wanted <= {r.get("pattern") for r in published}
    rejected = [r for r in hub.read(hub.topics.member_rejected("acme"), expect=1) if r["submission_id"] == submission]
    assert [r["where"] for r in rejected] == ["line 3002"] and rejected[0]["code"] == "invalid-value"
