"""SIEM exports against real peers: a report submitted with `kizuna submit --format text` through
the real broker and worker (tests.harness), confirmed and refuted by members' feedback, and
exported as a member with its own Kafka login: blocklists one-shot and following (a revoked
indicator leaves them), ECS checked against the ECS reference, CEF sent to a real TCP receiver."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from syslog_rfc5424_parser import SyslogMessage

from connectors.siem import cef
from connectors.siem.settings import SiemSettings
from connectors.siem.stream import BlocklistOutput, CefOutput, Export
from streams import access
from streams.core.stix_out import EXTENSION_ID
from streams.kafka_io import client_config
from streams.settings import ROOT
from streams.tlp import TLP
from tests.connectors.test_siem_cef import _tcp_receiver, parsed
from tests.connectors.test_siem_ecs import ecs_problems
from tests.harness import Hub, namespace_env

pytestmark = pytest.mark.integration

REPORT = Path(__file__).parent / "fixtures" / "siem_report.txt"
READER = "initech"  # a general member (pinned): it reads confirmed records only, on share topics
KEPT, REFUTED = "cdn-lantern.example", "45.77.65.211"


def kizuna(hub: Hub, *args: str) -> subprocess.CompletedProcess:  # noqa: F811
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True, timeout=120,
                          env=namespace_env(hub.settings, hub.settings.var_dir), cwd=ROOT)


def _status(records: list[dict], value: str) -> str | None:
    found = [r["extensions"][EXTENSION_ID]["status"] for r in records
             if r["extensions"][EXTENSION_ID].get("value") == value]
    return found[-1] if found else None


@pytest.fixture(scope="module")
def confirmed(hub: Hub) -> Hub:  # noqa: F811
    """The report submitted by acme with the real CLI; two of its indicators confirmed by a second founder."""
    hub.vouch("acme", "globex", "stark")  # founding members: a quorum of two independent, vouched groups
    done = kizuna(hub, "submit", str(REPORT), "--as", "acme", "--format", "text", "--tlp", "green")
    assert done.returncode == 1, done.stderr  # partly rejected: the private and reserved addresses
    assert "7 objects accepted, 0 skipped by policy, 7 rejected" in done.stdout
    rejected = [line for line in done.stderr.splitlines() if line.startswith("rejected siem_report.txt: text ")]
    dropped = ["http://203.0.113.50/payload.bin", "203.0.113.50", "10.20.30.40", "192.168.1.15", "fd12:3456:789a::15",
               "239.255.255.250", "169.254.10.10"]
    assert len(rejected) == len(dropped)
    assert all(line.rstrip().endswith("not an indicator [invalid-value]") for line in rejected)
    assert all(any(f": {value} is" in line for line in rejected) for value in dropped)  # each one with its reason
    contrib = hub.topics.contrib(TLP.GREEN, "all")
    assert hub.until(contrib, lambda rs: _status(rs, KEPT) and _status(rs, REFUTED), timeout=60)
    for value in (KEPT, REFUTED):
        hub.feedback(value, member="globex", kind="confirm")
        hub.feedback(value, member="hooli", count=12)
    share = hub.topics.share(TLP.GREEN, "all")
    records = hub.until(share, lambda rs: _status(rs, KEPT) == _status(rs, REFUTED) == "confirmed", timeout=60)
    assert _status(records, KEPT) == _status(records, REFUTED) == "confirmed", \
        kizuna(hub, "explain", REFUTED).stdout + kizuna(hub, "explain", KEPT).stdout
    return hub


def refute(hub: Hub) -> None:  # noqa: F811
    """A reliable (vouched) member reports REFUTED as a false positive, once: it is held back at once."""
    share = hub.topics.share(TLP.GREEN, "all")
    if _status(hub.read(share, expect=0, settle=0.5), REFUTED) == "revoked":
        return
    hub.feedback(REFUTED, member="stark", kind="false-positive")
    assert _status(hub.until(share, lambda rs: _status(rs, REFUTED) == "revoked", timeout=60), REFUTED) == "revoked"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_one_shot_exports_as_the_member(confirmed: Hub, tmp_path: Path):
    hub = confirmed
    out = tmp_path / "blocklist"
    done = kizuna(hub, "export", "blocklist", "--as", READER, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert lines(out / "ipv4-addr.txt") == [REFUTED] and lines(out / "domain-name.txt") == [KEPT]
    assert lines(out / "url.txt") == [] and lines(out / "file-md5.txt") == []  # unconfirmed: never blocked
    rules = (out / "kizuna.rules").read_text()
    assert f"alert ip [{REFUTED}] any <> any any" in rules and f'content:".{KEPT}"' in rules

    ecs_done = kizuna(hub, "export", "ecs", "--as", READER, "--stdout")
    assert ecs_done.returncode == 0, ecs_done.stderr
    documents = [orjson.loads(line) for line in ecs_done.stdout.splitlines()]
    assert {d["threat"]["indicator"]["name"] for d in documents} == {REFUTED, KEPT}
    assert [problem for d in documents for problem in ecs_problems(d)] == []

    port, received, thread = _tcp_receiver(expected=2)
    siem = SiemSettings(syslog_hostname="siem-test")
    sender = cef.SyslogSender(f"tcp://127.0.0.1:{port}", timeout_s=5)
    tally = Export(hub.settings, siem, READER, CefOutput(sender, "siem-test", 16, follow=False), follow=False).run()
    thread.join(10)
    assert tally.unreadable == 0 and tally.written == 2
    events = [parsed(SyslogMessage.parse(message.decode()).msg) for message in received]
    assert sorted(e["indicator"] for e in events) == sorted([KEPT, REFUTED])
    assert {e["status"] for e in events} == {"confirmed"} and {e["tlp"] for e in events} == {"GREEN"}


def test_following_blocklist_drops_the_revoked_indicator_and_commits(confirmed: Hub, tmp_path: Path):
    hub = confirmed
    siem = SiemSettings(idle_flush_s=0.2)
    output = BlocklistOutput(tmp_path, siem.sid_base, unconfirmed=False)
    export = Export(hub.settings, siem, READER, output, follow=True)
    stop = threading.Event()
    runner = threading.Thread(target=export.run, args=(stop,), daemon=True)
    runner.start()
    try:
        listed = tmp_path / "ipv4-addr.txt"
        deadline = time.monotonic() + 30
        while not (listed.exists() and lines(listed) == [REFUTED]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lines(listed) == [REFUTED]
        refute(hub)
        deadline = time.monotonic() + 30
        while lines(listed) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lines(listed) == [] and lines(tmp_path / "domain-name.txt") == [KEPT]
        assert REFUTED not in (tmp_path / "kizuna.rules").read_text()
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive()
    # Offsets were committed, under the member's own group prefix, only for what was written.
    topics = [t for t in access.readable_topics(hub.settings, READER) if ".share." in t]
    consumer = Consumer({**client_config(hub.settings, READER), "group.id": export.group})
    try:
        committed = consumer.committed([TopicPartition(t, 0) for t in topics], timeout=15)
    finally:
        consumer.close()
    assert export.group.startswith(hub.topics.member_group_prefix(READER))
    share = hub.topics.share(TLP.GREEN, "all")
    assert next(p.offset for p in committed if p.topic == share) >= 3  # two confirmations and the revocation


def test_one_shot_after_the_revocation_and_a_stranger(confirmed: Hub, tmp_path: Path):
    hub = confirmed
    refute(hub)
    done = kizuna(hub, "export", "blocklist", "--as", READER, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert lines(tmp_path / "ipv4-addr.txt") == [] and lines(tmp_path / "domain-name.txt") == [KEPT]
    stranger = kizuna(hub, "export", "ecs", "--as", "mallory", "--stdout")
    assert stranger.returncode == 3 and "no member 'mallory'" in stranger.stderr and not stranger.stdout
