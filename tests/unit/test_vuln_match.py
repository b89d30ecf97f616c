"""Matching on real advisories (tests/fixtures/vulns): who is concerned, on what basis, and the
false positives peers' trackers report (wildcards, "up to" ranges, aliases) that must not match."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.vulns import parse
from streams.core.vuln_match import Asset, Catalogue, basis, version
from streams.core.vuln_model import Affected, BadSoftware, asset_id, parse_software

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vulns"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def catalogue() -> Catalogue:
    cat = Catalogue()
    for advisory in [*parse.nvd(json.loads(load("nvd_cves.json"))), *parse.kev(json.loads(load("kev.json"))),
                     *parse.jvn_detail(load("myjvn_getVulnDetailInfo_JVNDB-2022-000097.xml")),
                     *parse.csaf(json.loads(load("csaf_bsi-2022-0001.json")))]:
        cat.put_advisory(advisory)
    return cat


def add(cat: Catalogue, org: str, name: str = "", **fields: str) -> list:
    software = parse_software(name, **fields)
    return cat.put_asset(Asset(org, asset_id(org, software), software))


def found(decisions: list) -> set[tuple[str, str, str]]:
    return {(d.asset.org, d.vulnerability, d.basis) for d in decisions if d.action != "revoke"}


@pytest.mark.parametrize("name,expected", [
    ("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "range"),  # 2.13.0 <= v < 2.15.0
    ("cpe:2.3:a:apache:log4j:2.9:*:*:*:*:*:*:*", "range"),  # "2.9" > "2.15.0" as strings: a library compares
    ("cpe:2.3:a:apache:log4j:2.0:rc1:*:*:*:*:*:*", "exact"),
    ("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "range"),  # purl -> NVD's name by the alias table
])
def test_log4j_versions_inside_the_ranges_match(name: str, expected: str) -> None:
    assert found(add(catalogue(), "acme", name)) == {("acme", "CVE-2021-44228", expected)}


@pytest.mark.parametrize("name", [
    "cpe:2.3:a:apache:log4j:2.15.0:*:*:*:*:*:*:*",  # versionEndExcluding: "up to" is not "up to and including"
    "cpe:2.3:a:apache:log4j:2.12.2:*:*:*:*:*:*:*",  # the security release between two ranges
    "cpe:2.3:a:apache:log4j:2.3.1:*:*:*:*:*:*:*",
    "cpe:2.3:a:apache:log4j:1.2.17:*:*:*:*:*:*:*",  # below every range
    "cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*",  # wildcard version: never matches by itself
    "cpe:2.3:a:apache:log4net:2.0.8:*:*:*:*:*:*:*",  # another product of the same vendor
    "cpe:2.3:a:qos:log4j:2.14.1:*:*:*:*:*:*:*",  # the same product name under another vendor
    "cpe:2.3:h:siemens:6bk1602-0aa12-0tp0:-:*:*:*:*:*:*:*",  # the platform of an AND configuration (vulnerable: false)
])
def test_false_positives_give_no_notice(name: str) -> None:
    assert add(catalogue(), "acme", name) == []


def test_outside_nvd_ranges_leaves_only_the_unverified_jvn_notice() -> None:
    # NVD: < 6, 6, 6 r4. JVN's "v6 R4 およびそれ以前" cannot be compared: product only, and the notice says so.
    decisions = add(catalogue(), "acme", "cpe:2.3:a:jacic:electronic_bidding_core_system:7:*:*:*:*:*:*:*")
    assert {d.basis for d in decisions} == {"product"}
    assert all(d.entry is not None and d.entry.text == "v6 R4 およびそれ以前のバージョン" for d in decisions)


def test_wildcard_vendor_cannot_be_registered() -> None:
    with pytest.raises(BadSoftware):
        parse_software("cpe:2.3:a:*:log4j:2.14.1:*:*:*:*:*:*:*")
    with pytest.raises(BadSoftware):
        parse_software(vendor="apache", product="*", version="2.14.1")


def test_wildcard_advisory_entry_never_matches_alone() -> None:
    asset = parse_software("cpe:2.3:a:contiki-ng:contiki-ng:4.8:*:*:*:*:*:*:*")
    assert basis(asset, Affected("contiki-ng", "contiki-ng")) is None
    assert basis(asset, Affected("contiki-ng", "contiki-ng", text="4.8 およびそれ以前")) == "product"


def test_japanese_product_from_jvn_matches_product_only_and_nvd_range_by_version() -> None:
    cat = catalogue()
    # JVN's CPE 2.2 name; JVN gives versions as free text, NVD gives ranges (version 5 < 6).
    decisions = add(cat, "kensetsu", "cpe:/a:jacic:electronic_bidding_core_system:5")
    assert found(decisions) == {("kensetsu", f"CVE-2022-{n}", "range") for n in ("41993",)} | {
        ("kensetsu", "CVE-2022-46287", "product"), ("kensetsu", "CVE-2022-46288", "product")}
    view = cat.view("CVE-2022-41993")
    assert view is not None and view.text("title", "ja") == "電子入札コアシステムにおける複数の脆弱性"
    assert view.jvndb == ["JVNDB-2022-000097"]


def test_vendor_and_product_aliases() -> None:
    # The CNA's record names the product in romaji and the vendor in full; NVD's CPE uses other names.
    decisions = add(catalogue(), "kensetsu", vendor="Japan Construction Information Center",
                    product="DENSHI NYUSATSU CORE SYSTEM", version="6")
    assert ("kensetsu", "CVE-2022-41993", "exact") in found(decisions)


def test_exact_update_must_agree() -> None:
    cat = catalogue()
    assert found(add(cat, "a", "cpe:2.3:a:jacic:electronic_bidding_core_system:6:r4:*:*:*:*:*:*")) >= {
        ("a", "CVE-2022-41993", "exact")}
    assert ("b", "CVE-2022-41993", "exact") not in found(
        add(cat, "b", "cpe:2.3:a:jacic:electronic_bidding_core_system:6:r5:*:*:*:*:*:*"))


def test_csaf_versions_by_branch() -> None:
    cat = catalogue()
    assert found(add(cat, "a", "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc1")) == {
        ("a", "CVE-2022-27193", "exact")}
    assert found(add(cat, "b", "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-rc2")) == set()  # fixed


def test_once_per_basis_kev_escalates_and_revocations() -> None:
    cat = catalogue()
    first = add(cat, "acme", "cpe:2.3:a:zimbra:collaboration:8.8.15:p9:*:*:*:*:*:*")
    assert first == []  # nothing known about Zimbra yet
    later = parse.nvd(json.loads(load("nvd_cves_later.json")))
    decisions = cat.put_advisory(later[0])
    assert [(d.action, d.basis, d.kev) for d in decisions] == [("notify", "exact", False)]
    assert cat.put_advisory(later[0]) == []  # the same advisory again: nothing twice
    kev = [a for a in parse.kev(json.loads(load("kev_later.json"))) if a.id == "CVE-2023-34192"]
    decisions = cat.put_advisory(kev[0])
    assert [(d.action, d.basis, d.kev) for d in decisions] == [("escalate", "exact", True)]
    assert cat.put_advisory(kev[0]) == []
    withdrawn = later[0]
    withdrawn.withdrawn = True
    decisions = cat.put_advisory(withdrawn)  # NVD rejects the CVE: no source names an affected product any more
    assert [(d.action, d.vulnerability) for d in decisions] == [("revoke", "CVE-2023-34192")]
    assert cat.put_advisory(withdrawn) == []


def test_removed_asset_revokes() -> None:
    cat = catalogue()
    software = parse_software("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*")
    asset = Asset("acme", asset_id("acme", software), software)
    assert len(cat.put_asset(asset)) == 1
    assert [(d.action, d.vulnerability) for d in cat.drop_asset("acme", asset.id)] == [("revoke", "CVE-2021-44228")]
    assert cat.drop_asset("acme", asset.id) == []


def test_versions_are_compared_by_a_library() -> None:
    assert version("2.9") < version("2.15.0") and version("10.4.1") < version("10.4.2")
    assert version("2.1", "maven") < version("2.3.1", "maven")


def test_leaving_kev_gives_a_new_version_without_the_flag() -> None:
    cat = catalogue()
    software = parse_software("cpe:2.3:a:zimbra:collaboration:8.8.15:p9:*:*:*:*:*:*")
    cat.put_asset(Asset("acme", asset_id("acme", software), software))
    cat.put_advisory(parse.nvd(json.loads(load("nvd_cves_later.json")))[0])
    kev = [a for a in parse.kev(json.loads(load("kev_later.json"))) if a.id == "CVE-2023-34192"][0]
    assert [d.kev for d in cat.put_advisory(kev)] == [True]
    kev.withdrawn, kev.kev = True, None
    assert [(d.action, d.kev) for d in cat.put_advisory(kev)] == [("notify", False)]
