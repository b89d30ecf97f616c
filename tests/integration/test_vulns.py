"""R8 end to end on the real broker: the pollers read real-format samples from a local HTTP server,
the match agent delivers notices to exactly the members whose assets they concern, once; and the
three triggers (advisory -> inbox, KEV addition -> escalated notice, asset added -> back-matched
notices) are each measured. Members' assets reach the hub only through signed changes."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from stix2validator import ValidationOptions, validate_string

from connectors.vulns.poller import Poller
from connectors.vulns.settings import VulnSettings
from streams import assets
from streams.core.vuln_model import asset_id, parse_software
from streams.core.vuln_notice import EXTENSION_ID
from streams.kafka_io import read_partition
from streams.settings import ROOT
from tests.integration.test_access import DENIED, read_as
from tests.vulnsources import serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sources():
    with serving() as server:
        yield server


@pytest.fixture(scope="module")
def poller(hub, sources, tmp_path_factory):
    settings = VulnSettings(kev_url=f"{sources.url}/kev.json", nvd_url=f"{sources.url}/nvd",
                            myjvn_url=f"{sources.url}/myjvn", jvn_rss_urls=[f"{sources.url}/rss.rdf"],
                            csaf_urls=[f"{sources.url}/csaf/bsi-2022-0001.json"], min_interval_s=0, retries=1,
                            backoff_s=0.05, state_file=tmp_path_factory.mktemp("vulns") / "vulns.json")
    return Poller(hub.settings, settings)


def add(hub, member: str, name: str) -> str:
    software = parse_software(name)
    identifier = asset_id(member, software)
    assets.send(hub.settings, member, [assets.change(member, "add", identifier, software)])
    return identifier


def inbox(hub, member: str, done=lambda objects: True, timeout: float = 60.0) -> list[dict]:
    """Every object version in the member's inbox up to its current end, read again until `done`."""
    deadline = time.monotonic() + timeout
    while True:
        objects = [json.loads(v) for _, v in read_partition(hub.settings, hub.topics.inbox(member), 0) if v]
        if done(objects) or time.monotonic() > deadline:
            return objects
        time.sleep(0.1)


def notices(hub, member: str, done=lambda relationships: True, timeout: float = 60.0) -> list[dict]:
    """Relationship versions in the member's inbox (every version: a duplicate would show)."""
    pick = lambda objects: [o for o in objects if o["type"] == "relationship"]  # noqa: E731
    return pick(inbox(hub, member, lambda objects: done(pick(objects)), timeout))


def timed(label: str, started: float) -> float:
    took = time.monotonic() - started
    print(f"\n  {label}: {took:.2f} s")
    return took


def test_three_triggers_end_to_end(hub, poller, sources) -> None:
    # 1. advisory -> inbox: acme runs log4j 2.14.1, hooli the fixed 2.15.0 (never notified).
    add(hub, "acme", "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*")
    add(hub, "hooli", "cpe:2.3:a:apache:log4j:2.15.0:*:*:*:*:*:*:*")
    add(hub, "initech", "cpe:2.3:a:zimbra:collaboration:8.8.15:p9:*:*:*:*:*:*")
    hub.until(hub.topics.member_assets("initech"), lambda rs: len(rs) >= 1)
    started = time.monotonic()
    assert poller.poll(["nvd"]) == {"nvd": 3}
    found = notices(hub, "acme", lambda rs: len(rs) >= 1)
    assert timed("advisory -> inbox", started) < 30
    assert [(r["extensions"][EXTENSION_ID]["basis"], r["extensions"][EXTENSION_ID]["kev"]) for r in found] == [
        ("range", True)]  # NVD carries CISA's KEV fields for CVE-2021-44228

    # 2. asset added -> back-matched against everything known (JVN's Japanese text beside NVD's).
    assert poller.poll(["jvn", "kev", "csaf"]) == {"jvn": 1, "kev": 2, "csaf": 1}
    started = time.monotonic()
    add(hub, "globex", "cpe:/a:jacic:electronic_bidding_core_system:5")
    found = notices(hub, "globex", lambda rs: len(rs) >= 3)
    timed("asset added -> back-matched notices", started)
    bases = sorted(r["extensions"][EXTENSION_ID]["basis"] for r in found)
    assert bases == ["product", "product", "range"]
    objects = inbox(hub, "globex")
    japanese = [o for o in objects if o["type"] == "language-content" and "ja" in o["contents"]]
    assert any(o["contents"]["ja"]["name"] == "電子入札コアシステムにおける複数の脆弱性" for o in japanese)
    assert {o["lang"] for o in objects if o["type"] == "vulnerability"} == {"en", "ja"}  # JVN only: Japanese
    for obj in objects:
        result = validate_string(json.dumps(obj), ValidationOptions(version="2.1", strict=False))
        assert result.is_valid, (obj["type"], [str(e) for e in result.errors])

    # 3. KEV addition -> the existing match escalated: Zimbra is matched once NVD has it, then KEV lists it.
    sources.files["/nvd"] = "nvd_cves_later.json"
    poller.poll(["nvd"])
    notices(hub, "initech", lambda rs: len(rs) >= 1)
    sources.files["/kev.json"] = "kev_later.json"
    started = time.monotonic()
    assert poller.poll(["kev"]) == {"kev": 3}
    found = notices(hub, "initech", lambda rs: any(r["extensions"][EXTENSION_ID]["kev"] for r in rs))
    timed("KEV addition -> escalated notice", started)
    assert [r["extensions"][EXTENSION_ID]["kev"] for r in found] == [False, True]

    # Nothing twice, nobody else: the same sources again change nothing; hooli (2.15.0) and the
    # members without assets have no notice at all.
    assert poller.poll(["kev", "csaf"]) == {"kev": 0, "csaf": 0}  # 304 Not Modified
    sources.files["/nvd"] = "nvd_cves.json"
    poller.poll(["nvd"])  # the same records again (NVD has no validators to send): the agent sends nothing
    time.sleep(3)
    assert len(notices(hub, "acme", timeout=1)) == 1
    assert len(notices(hub, "globex", timeout=1)) == 3
    for member in ("hooli", "stark", "wayne"):
        assert notices(hub, member, timeout=1) == []


def test_removed_asset_revokes_and_forged_changes_are_refused(hub, poller) -> None:
    poller.poll(["nvd"])
    identifier = add(hub, "wayne", "cpe:2.3:a:apache:log4j:2.13.0:*:*:*:*:*:*:*")
    notices(hub, "wayne", lambda rs: len(rs) >= 1)
    assets.send(hub.settings, "wayne", [assets.change("wayne", "remove", identifier, None)])
    found = notices(hub, "wayne", lambda rs: any(r.get("revoked") for r in rs))
    assert [bool(r.get("revoked")) for r in found] == [False, True]
    # stark, with its own login, signs a change in wayne's name with stark's key: refused, nothing stored.
    software = parse_software("cpe:2.3:a:apache:log4j:2.14.0:*:*:*:*:*:*:*")
    forged = assets.change("wayne", "add", asset_id("wayne", software), software)
    from streams import credentials
    from streams.intake import _publisher

    forged["signature"] = assets.sign(credentials.load(hub.settings, "stark").key, forged)
    _publisher(hub.settings, "stark").send(hub.topics.asset_changes, json.dumps(forged).encode(), b"stark")
    _publisher(hub.settings, "stark").flush_sync()
    rejected = hub.until(hub.topics.rejected, lambda rs: any(r["submission_id"] == forged["change_id"] for r in rs))
    mine = [r for r in rejected if r["submission_id"] == forged["change_id"]]
    assert mine and mine[0]["code"] == "unauthenticated" and "log4j" not in json.dumps(mine)
    assert len(notices(hub, "wayne", timeout=1)) == 2


def test_members_cannot_read_advisories_or_assets(hub) -> None:
    for topic in (hub.topics.assets, hub.topics.vulns, hub.topics.vuln_matches, hub.topics.asset_changes,
                  hub.topics.member_assets("acme")):
        records, error = read_as(hub.settings, "globex", topic)
        assert error in DENIED and not records, (topic, error)
    assert read_as(hub.settings, "acme", hub.topics.member_assets("acme"))[1] is None  # its own: yes


def kizuna(hub, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=hub.worker.env, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_the_cli_as_members_use_it(hub, tmp_path) -> None:
    listing = tmp_path / "assets.csv"
    listing.write_text("cpe,vendor,product,version\ncpe:2.3:a:apache:log4j:2.14.0:*:*:*:*:*:*:*,,,\n"
                       ",*,secret-product,1.0\n")
    done = kizuna(hub, "assets", "import", "--as", "stark", str(listing))
    assert done.returncode == 1 and "line 3" in done.stderr and "secret-product" not in done.stderr, done.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(read_partition(hub.settings, hub.topics.member_assets("stark"), 0)):
        time.sleep(0.2)
    listed = kizuna(hub, "assets", "list", "--as", "stark", "--json")
    shown = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(a["vendor"], a["product"], a["version"]) for a in shown] == [("apache", "log4j", "2.14.0")]
    done = kizuna(hub, "vulns", "--as", "acme", "--json")
    (notice,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert notice["vulnerability"] == "CVE-2021-44228" and notice["kev"] and notice["basis"] == "range"
    done = kizuna(hub, "vulns", "--as", "globex", "--ecs", "--lang", "en")
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert {d["vulnerability"]["id"] for d in documents} == {"CVE-2022-41993", "CVE-2022-46287", "CVE-2022-46288"}
    assert {d["labels"]["kizuna_lang"] for d in documents} == {"en", "ja"}  # English where it exists
    log = hub.worker.log.read_text(errors="replace")
    assert not any(name in log for name in ("log4j", "electronic_bidding", "zimbra", "secret-product"))


def test_a_restarted_worker_sends_nothing_twice(hub, poller, sources) -> None:
    before = {m: len(notices(hub, m, timeout=1)) for m in ("acme", "globex", "initech")}
    hub.worker.stop()
    hub.worker.start()  # rebuilds the catalogue from kizuna.vuln-matches, kizuna.vulns and kizuna.assets
    poller.poll(["nvd"])  # the same records again
    add(hub, "acme", "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*")  # the same asset again
    time.sleep(3)
    assert {m: len(notices(hub, m, timeout=1)) for m in before} == before
