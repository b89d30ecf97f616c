"""Notices as members read them: valid STIX 2.1 (vulnerability, its translation, the software, the
relationship), Japanese beside English, the software's id as STIX derives it, ECS for SIEMs; and
asset lists (CSV, CycloneDX, SPDX) read from real published SBOMs."""
from __future__ import annotations

import json

import stix2
from stix2validator import ValidationOptions, validate_string

from streams.core.assets_in import parse
from streams.core.vuln_match import Asset
from streams.core.vuln_model import asset_id, parse_software
from streams.core.vuln_notice import (
    EXTENSION_ID,
    ecs,
    notices,
    render,
    software_object,
    sort_notices,
    stix_time,
    text_in,
)
from streams.settings import ROOT
from tests.unit.test_vuln_match import FIXTURES, catalogue

HUB = "identity--2d87de4e-69e7-5474-95f5-e3e77464fa93"
NOW = 1_796_000_000_000


def inbox_after(name: str, org: str = "kensetsu") -> tuple[dict[str, dict], list]:
    cat = catalogue()
    software = parse_software(name)
    decisions = cat.put_asset(Asset(org, asset_id(org, software), software))
    objects: dict[str, dict] = {}
    for decision in decisions:
        for obj in render(decision, cat.view(decision.vulnerability), HUB, NOW):
            objects[obj["id"]] = obj
    return objects, decisions


def test_every_notice_object_is_valid_stix() -> None:
    objects, decisions = inbox_after("cpe:/a:jacic:electronic_bidding_core_system:6")
    assert len(decisions) == 3
    for obj in objects.values():
        result = validate_string(json.dumps(obj), ValidationOptions(version="2.1", strict=False))
        assert result.is_valid, (obj["type"], [str(e) for e in result.errors])
    cat = catalogue()
    revoke = render(decisions[0].__class__("revoke", decisions[0].asset, decisions[0].vulnerability, "exact", False),
                    cat.view(decisions[0].vulnerability), HUB, NOW + 1)
    assert len(revoke) == 1 and revoke[0]["revoked"] is True
    assert validate_string(json.dumps(revoke[0]), ValidationOptions(version="2.1", strict=False)).is_valid


def test_japanese_beside_english_and_japanese_by_default() -> None:
    objects, _ = inbox_after("cpe:/a:jacic:electronic_bidding_core_system:6")
    found = {n["vulnerability"]: n for n in notices(objects)}
    both = found["CVE-2022-41993"]
    assert both["basis"] == "exact" and both["jvndb"] == ["JVNDB-2022-000097"]
    assert text_in(both, None)[0] == "ja" and text_in(both, "en")[1].startswith("Cross-site scripting")
    assert text_in(both, None)[1].startswith("電子入札コアシステムにおける複数の脆弱性: ")
    only_jvn = found["CVE-2022-46287"]
    assert only_jvn["basis"] == "product" and text_in(only_jvn, "en")[0] == "ja"  # no English anywhere: say so in ja
    vulnerability = next(o for o in objects.values() if o["type"] == "vulnerability" and o["name"] == "CVE-2022-41993")
    assert {r["source_name"] for r in vulnerability["external_references"]} == {"cve", "jvndb"}
    assert vulnerability["extensions"][EXTENSION_ID]["cvss"]["score"] == 6.1


def test_kev_flag_due_date_and_order() -> None:
    objects, _ = inbox_after("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "acme")
    (notice,) = notices(objects)
    assert notice["kev"] is True and notice["kev_due_date"] == "2021-12-24" and notice["basis"] == "range"
    assert notice["affected"] == "2.13.0 <= version < 2.15.0"
    document = ecs(notice)
    assert document["vulnerability"]["id"] == "CVE-2021-44228" and document["vulnerability"]["score"]["base"] == 10.0
    assert document["package"] == {"name": "log4j", "version": "2.14.1"} and document["labels"]["kizuna_kev"] == "true"
    older = {**notice, "noticed": "2020-01-01T00:00:00.000Z", "kev": False}
    milder = {**notice, "cvss": {"score": 5.0}, "kev": False}
    assert [n is notice for n in sort_notices([older, milder, notice])] == [True, False, False]


def test_software_id_is_the_one_stix_derives() -> None:
    software = parse_software("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*")
    ours = software_object(software)
    theirs = stix2.Software(name=ours["name"], cpe=ours["cpe"], vendor=ours["vendor"], version=ours["version"])
    assert ours["id"] == theirs.id


def test_source_times_in_stix_form() -> None:
    assert stix_time("2021-12-10T10:15:09.143") == "2021-12-10T10:15:09.143Z"  # NVD: UTC without a zone
    assert stix_time("2022-12-15T12:04:51+09:00") == "2022-12-15T03:04:51.000Z"  # JVN: JST
    assert stix_time("2025-02-25") == "2025-02-25T00:00:00.000Z"  # KEV: a date


def test_real_sboms_and_csv() -> None:
    found, problems, fmt = parse((FIXTURES / "sbom_cern-lhc-vdm-editor.cdx.json").read_bytes())
    assert fmt == "cyclonedx" and len(found) == 43 and not problems and found[0].ecosystem == "npm"
    found, problems, fmt = parse((FIXTURES / "sbom_acme_infusion.spdx.json").read_bytes())
    assert fmt == "spdx" and len(found) == 8 and found[1].product == "windows_embedded_standard_7"
    csv = (b"vendor,product,version\nJACIC,Denshi Nyusatsu Core System,6\n*,log4j,2.14.1\n"
           b"cybozu,,1\n")
    found, problems, fmt = parse(csv)
    assert fmt == "csv" and [s.product for s in found] == ["denshi_nyusatsu_core_system"]
    assert [where for where, _ in problems] == ["line 3", "line 4"]
    assert "log4j" not in json.dumps(problems)  # a problem names the line, never the software
    assert parse(b"name\nx\n")[1] == [("header", "needs a cpe or purl column, or vendor and product columns")]


def test_extension_definition_is_valid_and_is_the_one_used() -> None:
    definition = json.loads((ROOT / "schemas" / "kizuna-vuln-extension.json").read_text())
    assert definition["id"] == EXTENSION_ID
    assert validate_string(json.dumps(definition), ValidationOptions(version="2.1")).is_valid
