"""Blocklists: the maintained set (add, replace, remove on revocation and expiry, with a clock
passed in), atomic files, stable Suricata sids, and the rules file checked by Suricata itself
(Debian's suricata, fetched by connectors/siem/get-suricata.sh when missing)."""
from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.siem import blocklist as bl
from connectors.siem.blocklist import Blocklist
from connectors.siem.indicator import Indicator
from streams.settings import ROOT
from streams.tlp import TLP
from tests.connectors.fixtures.siem_records import NOW, T0, indicator

GREEN, AMBER = "kizuna.share.green.all", "kizuna.share.amber.finance"
SID_BASE = 1_000_000_000


def listed(blocklist: Blocklist) -> dict[str, list[str]]:
    return {kind: values for kind, values in blocklist.values().items() if values}


def test_versions_add_replace_and_remove():
    blocklist = Blocklist()
    assert blocklist.apply(GREEN, indicator("domain-name", "evil.example"), NOW) == "added"
    assert blocklist.apply(GREEN, indicator("domain-name", "evil.example", modified=T0 + 2000, confidence=90),
                           NOW) == "replaced"
    assert blocklist.apply(GREEN, indicator("domain-name", "evil.example", modified=T0 + 1500), NOW) == "stale"
    assert listed(blocklist) == {"domain-name": ["evil.example"]}
    assert blocklist.apply(GREEN, indicator("domain-name", "evil.example", status="revoked", modified=T0 + 3000),
                           NOW) == "removed"
    assert listed(blocklist) == {}
    assert blocklist.apply(GREEN, indicator("ipv4-addr", "45.77.65.211", status="revoked"), NOW) == "unlisted"


def test_unconfirmed_blocks_only_when_asked():
    unconfirmed = indicator("ipv4-addr", "45.77.65.211", status="unconfirmed", tier="contributor")
    assert Blocklist().apply(GREEN, unconfirmed, NOW) == "unlisted"
    assert Blocklist(unconfirmed=True).apply(GREEN, unconfirmed, NOW) == "added"


def test_a_revocation_on_any_topic_the_member_reads_takes_it_out():
    blocklist = Blocklist()
    blocklist.apply(GREEN, indicator("domain-name", "evil.example"), NOW)
    blocklist.apply(AMBER, indicator("domain-name", "evil.example", tlp=TLP.AMBER, sector="finance"), NOW)
    assert blocklist.apply(AMBER, indicator("domain-name", "evil.example", tlp=TLP.AMBER, sector="finance",
                                            status="revoked", modified=T0 + 5000), NOW) == "removed"
    assert listed(blocklist) == {}
    blocklist.drop_topic(AMBER, NOW)  # the member no longer reads AMBER: the GREEN view stands alone again
    assert listed(blocklist) == {"domain-name": ["evil.example"]}


def test_expiry_follows_the_clock_passed_in():
    blocklist = Blocklist()
    until = T0 + 2 * 86_400_000
    blocklist.apply(GREEN, indicator("ipv4-addr", "45.77.65.211", valid_until=until), NOW)
    assert blocklist.expire(NOW) == [] and listed(blocklist) == {"ipv4-addr": ["45.77.65.211"]}
    later = NOW + timedelta(days=1)  # exactly valid_until: no longer valid
    assert blocklist.expire(later) == [indicator("ipv4-addr", "45.77.65.211").id] and listed(blocklist) == {}
    assert blocklist.apply(GREEN, indicator("ipv4-addr", "45.77.65.212", valid_until=T0), NOW) == "unlisted"


def test_complex_patterns_are_not_listable():
    pattern = "[ipv4-addr:value = '45.77.65.211'] AND [domain-name:value = 'evil.example']"
    assert Blocklist().apply(GREEN, indicator(None, None, pattern=pattern), NOW) == "unlistable"


def test_files_per_kind_replaced_atomically(tmp_path: Path):
    blocklist = Blocklist()
    for kind, value in [("ipv4-addr", "45.77.65.212"), ("ipv4-addr", "45.77.65.211"), ("url", "http://evil.example/a"),
                        ("file-md5", "d41d8cd98f00b204e9800998ecf8427e")]:
        blocklist.apply(GREEN, indicator(kind, value), NOW)
    paths = blocklist.write(tmp_path, SID_BASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths) == sorted(
        [*(f"{kind}.txt" for kind in ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file-md5",
                                      "file-sha1", "file-sha256", "file-sha512")), "kizuna.rules"])
    assert (tmp_path / "ipv4-addr.txt").read_text() == "45.77.65.211\n45.77.65.212\n"
    assert (tmp_path / "domain-name.txt").read_text() == ""
    before = (tmp_path / "ipv4-addr.txt").stat().st_ino
    blocklist.apply(GREEN, indicator("ipv4-addr", "45.77.65.212", status="revoked", modified=T0 + 9000), NOW)
    blocklist.write(tmp_path, SID_BASE)
    assert (tmp_path / "ipv4-addr.txt").read_text() == "45.77.65.211\n"
    # a new file renamed over the old, never rewritten in place
    assert (tmp_path / "ipv4-addr.txt").stat().st_ino != before


def _sample() -> list[Indicator]:
    return [indicator(kind, value, tlp=level) for kind, value, level in [
        ("ipv4-addr", "45.77.65.211", TLP.GREEN), ("ipv4-addr", "45.77.0.0/16", TLP.CLEAR),
        ("ipv6-addr", "2001:4860::8888", TLP.AMBER), ("ipv6-addr", "2001:4860::/32", TLP.GREEN),
        ("domain-name", "evil.example", TLP.AMBER_STRICT), ("domain-name", "c2_node.bad-actor.example", TLP.GREEN),
        ("url", "http://evil.example/a", TLP.GREEN)]]


def test_sids_derive_from_ids_whatever_the_order():
    forward, backward = Blocklist(), Blocklist()
    for shown in _sample():
        forward.apply(GREEN, shown, NOW)
    for shown in reversed(_sample()):
        backward.apply(GREEN, shown, NOW)
    assert forward.sids() == backward.sids() and len(forward.sids()) == 6  # the URL has no Suricata rule
    assert forward.rules(SID_BASE) == backward.rules(SID_BASE)


def test_colliding_slots_are_probed_in_id_order():
    first = indicator("domain-name", "evil.example")
    slot = int(first.id.removeprefix("indicator--").replace("-", ""), 16) % bl._SLOTS
    twin_number = int(first.id.removeprefix("indicator--").replace("-", ""), 16) + bl._SLOTS
    twin_hex = f"{twin_number:032x}"
    twin_id = f"indicator--{twin_hex[:8]}-{twin_hex[8:12]}-{twin_hex[12:16]}-{twin_hex[16:20]}-{twin_hex[20:]}"
    twin = replace(first, id=twin_id, value="twin.example")
    blocklist = Blocklist()
    blocklist.apply(GREEN, twin, NOW)
    blocklist.apply(GREEN, first, NOW)
    assert blocklist.sids() == {first.id: slot * 2, twin_id: (slot + 1) * 2}


@pytest.fixture(scope="module")
def suricata() -> Path:
    """Suricata from Debian (about 10 s the first time; kept under var/suricata afterwards)."""
    script = ROOT / "connectors" / "siem" / "get-suricata.sh"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"could not fetch Suricata:\n{done.stderr[-2000:]}"
    return Path(done.stdout.strip().splitlines()[-1])


def _engine(suricata: Path, rules: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(suricata), "-S", str(rules), *options], capture_output=True, text=True, timeout=60)


def test_suricata_loads_every_rule_as_written(suricata: Path, tmp_path: Path):
    blocklist = Blocklist()
    for shown in _sample():
        blocklist.apply(GREEN, shown, NOW)
    blocklist.write(tmp_path, SID_BASE)
    rules = tmp_path / bl.RULES_FILE
    checked = _engine(suricata, rules, "-T")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    analysis = suricata.parent / "log" / "rules.json"  # where the engine analysis lists each rule it parsed
    analysis.unlink(missing_ok=True)
    analysed = _engine(suricata, rules, "--engine-analysis")
    assert analysed.returncode == 0, analysed.stderr
    loaded = {(r["id"], r["msg"], (r.get("mpm") or {}).get("pattern")) for r in map(json.loads,
                                                                                    analysis.read_text().splitlines())}
    sids = blocklist.sids()
    expected = set()
    for shown in _sample():
        if shown.observable == "domain-name":
            sid = SID_BASE + sids[shown.id]
            expected |= {(sid, f"kizuna domain-name {shown.value} (DNS query)", f".{shown.value}"),
                         (sid + 1, f"kizuna domain-name {shown.value} (TLS SNI)", f".{shown.value}")}
        elif shown.observable != "url":
            expected.add((SID_BASE + sids[shown.id], f"kizuna {shown.observable} {shown.value}", None))
    assert loaded == expected
    assert rules.read_text().splitlines()[0].endswith("Highest marking of a rule here: TLP:AMBER+STRICT.")


def test_suricata_refuses_a_broken_rules_file(suricata: Path, tmp_path: Path):
    broken = tmp_path / "broken.rules"
    broken.write_text('alert ip [999.1.1.1] any <> any any (msg:"not an address"; sid:1000000001; rev:1;)\n')
    assert _engine(suricata, broken, "-T").returncode != 0  # the check above can fail
