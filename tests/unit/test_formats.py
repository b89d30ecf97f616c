from pathlib import Path

import orjson
import pytest

from streams.core.formats import Limits, detect, parse_submission
from streams.core.items import Reason
from streams.tlp import TLP

FIXTURES = Path(__file__).parents[1] / "fixtures"
LIMITS = Limits(max_bytes=1 << 20, max_objects=1000, max_depth=32)


def parse(payload: bytes | str, fmt: str = "auto", filename: str | None = None, limits: Limits = LIMITS):
    data = payload.encode() if isinstance(payload, str) else payload
    return parse_submission(data, fmt, filename, limits)


def values(parsed):
    return {(i.observable, i.value) for i in parsed.items if i.observable}


def test_detect_formats():
    assert detect((FIXTURES / "overlap_bundle.json").read_text(), None) == "stix"
    assert detect((FIXTURES / "overlap_misp.json").read_text(), None) == "misp"
    assert detect((FIXTURES / "overlap.csv").read_text(), "x.txt") == "csv"
    assert detect("C2 at evil[.]example", None) == "text"


def test_same_indicators_from_stix_misp_csv_get_the_same_ids():
    stix = parse((FIXTURES / "overlap_bundle.json").read_bytes())
    misp = parse((FIXTURES / "overlap_misp.json").read_bytes())
    csv = parse((FIXTURES / "overlap.csv").read_bytes())
    ip = ("ipv4-addr", "45.77.65.211")
    assert ip in values(stix) and ip in values(misp) and ip in values(csv)
    ids = {i.id for p in (stix, misp, csv) for i in p.items if (i.observable, i.value) == ip}
    assert len(ids) == 1


def test_stix_markings_objects_and_relationships():
    parsed = parse((FIXTURES / "overlap_bundle.json").read_bytes())
    assert not parsed.problems
    assert {i.tlp for i in parsed.items} == {TLP.GREEN}
    by_type = {i.stix_type: i for i in parsed.items}
    attack = by_type["attack-pattern"]
    assert attack.body["external_references"] == [{"source_name": "mitre-attack", "external_id": "T1566"}]
    relationship = by_type["relationship"]
    domain = next(i for i in parsed.items if i.value == "update-check.example")
    assert relationship.body["source_ref"] == domain.id
    assert relationship.body["target_ref"] == attack.id
    complex_ = next(i for i in parsed.items if i.stix_type == "indicator" and i.observable is None)
    assert complex_.pattern.startswith("[url:value")


def test_stix_bad_objects_are_rejected_one_by_one():
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '45.77.65.211']",
         "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--2", "pattern": "[ipv4-addr:value = '999.1.1.1']",
         "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--3", "pattern": "[ipv4-addr:value = ", "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--4", "pattern": "index=fw dest=1.2.3.4", "pattern_type": "spl"},
        {"type": "identity", "id": "identity--5", "name": "ACME"},
        {"type": "acme-thing", "id": "acme-thing--6"},
        {"type": "relationship", "id": "relationship--7", "relationship_type": "indicates",
         "source_ref": "indicator--2", "target_ref": "malware--nowhere"},
        "not an object",
    ]}
    parsed = parse(orjson.dumps(bundle))
    assert values(parsed) == {("ipv4-addr", "45.77.65.211")}
    codes = {p.where: p.code for p in parsed.problems}
    assert codes == {
        "object indicator--2": Reason.INVALID_VALUE,
        "object indicator--3": Reason.INVALID_PATTERN,
        "object indicator--4": Reason.UNSUPPORTED_PATTERN_TYPE,
        "object identity--5": Reason.WITHHELD,
        "object acme-thing--6": Reason.UNSUPPORTED_TYPE,
        "object relationship--7": Reason.DANGLING_REF,
        "objects[7]": Reason.MALFORMED,
    }


def test_misp_tags_composites_and_unsupported_types():
    parsed = parse((FIXTURES / "overlap_misp.json").read_bytes())
    assert ("domain-name", "login-portal.example") in values(parsed)
    assert ("ipv4-addr", "45.77.65.213") in values(parsed)
    assert {i.tlp for i in parsed.items} == {TLP.GREEN}
    assert parsed.problems == []
    lone_filename = [i for i in parsed.items if i.where == "attribute 6a000000-0000-4000-8000-000000000005"]
    assert [(i.stix_type, i.body["name"]) for i in lone_filename] == [("file", "invoice.pdf.exe")]  # context, carried


def test_misp_attribute_tag_narrows_the_event_level():
    event = {"Event": {"Tag": [{"name": "tlp:green"}], "Attribute": [
        {"type": "domain", "value": "a.example", "Tag": [{"name": "tlp:amber"}]},
        {"type": "domain", "value": "b.example"}]}}
    levels = {i.value: i.tlp for i in parse(orjson.dumps(event)).items if i.value}
    assert levels == {"a.example": TLP.AMBER, "b.example": TLP.GREEN}


def test_csv_rows_rejected_by_line_with_good_rows_kept():
    text = "type,value\nip,45.77.65.211\ndomain,=cmd|' /C calc'!A0\nmd5,xyz\nmutex,abc\n\nurl,hxxp://bad[.]example/x\n"
    parsed = parse(text, filename="iocs.csv")
    assert values(parsed) == {("ipv4-addr", "45.77.65.211"), ("url", "http://bad.example/x")}
    assert [(p.where, p.code) for p in parsed.problems] == [
        ("line 3", Reason.INVALID_VALUE), ("line 4", Reason.INVALID_VALUE), ("line 5", Reason.UNSUPPORTED_TYPE)]


def test_csv_without_value_column():
    parsed = parse("a,b\n1,2\n", fmt="csv")
    assert parsed.problems[0].code == Reason.MALFORMED and "value column" in parsed.problems[0].reason


def test_csv_tlp_column():
    parsed = parse("value,tlp\nevil.example,amber\nok.example,purple\n", fmt="csv")
    assert [(i.value, i.tlp) for i in parsed.items] == [("evil.example", TLP.AMBER)]
    assert parsed.problems[0].code == Reason.NO_TLP


def test_text_defanged_indicators():
    parsed = parse("C2 at hxxp://evil[.]example/a and 45.77.65[.]211; drop d41d8cd98f00b204e9800998ecf8427e. Mail ops "
                   "at 10.1.1.1")
    assert values(parsed) == {("url", "http://evil.example/a"), ("ipv4-addr", "45.77.65.211"),
                              ("file-md5", "d41d8cd98f00b204e9800998ecf8427e")}
    assert [p.code for p in parsed.problems] == [Reason.INVALID_VALUE]  # the private address, with a reason


@pytest.mark.parametrize(
    ("payload", "fmt", "code"),
    [
        (b"{not json", "stix", Reason.MALFORMED),
        (b"\xff\xfe\x00bad", "auto", Reason.NOT_UTF8),
        (b"   ", "auto", Reason.EMPTY),
        (b"x" * (LIMITS.max_bytes + 1), "text", Reason.TOO_LARGE),
        (b"[" * 100 + b"]" * 100, "stix", Reason.TOO_DEEP),
        (b"hello", "yaml", Reason.UNKNOWN_FORMAT),
        (b'{"type": "bundle", "objects": []}', "stix", Reason.EMPTY),
        (b'{"hello": 1}', "stix", Reason.MALFORMED),
    ],
)
def test_unusable_submissions_get_one_clear_problem(payload, fmt, code):
    parsed = parse(payload, fmt)
    assert not parsed.items
    assert [p.code for p in parsed.problems] == [code]
    assert parsed.problems[0].reason


def test_object_count_limit():
    bundle = {"type": "bundle", "objects": [{"type": "malware", "name": f"m{i}"} for i in range(5)]}
    parsed = parse(orjson.dumps(bundle), limits=Limits(1 << 20, 4, 32))
    assert [p.code for p in parsed.problems] == [Reason.TOO_MANY]


# The layouts public feeds publish (abuse.ch URLhaus and Feodo Tracker): `#` comment lines, the
# header among them, quoted fields, the value column named by its kind, a malware family column.
URLHAUS_LAYOUT = (
    "################################################################\n"
    "# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #\n"
    "################################################################\n"
    "#\n"
    "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"
    '"3201","2026-11-30 11:54:23","http://61.54.253.89:37352/bin.sh","online","2026-11-30 11:54:23",'
    '"malware_download","32-bit,elf,mips,Mozi","https://urlhaus.abuse.ch/url/3201/","reporter1"\n'
    '"3202","2026-11-30 11:50:01","smb://198.51.100.9/share/a.exe","online","","malware_download","exe",'
    '"https://urlhaus.abuse.ch/url/3202/","reporter2"\n'
)
FEODO_LAYOUT = (
    "# Feodo Tracker Botnet C2 IP Blocklist (CSV)\n"
    "#\n"
    '# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    '"2026-11-01 10:00:00","203.0.113.44","443","online","2026-11-30","QakBot"\n'
)


def test_feed_layouts_are_detected_and_read():
    urlhaus = parse(URLHAUS_LAYOUT, filename="csv.txt")
    assert urlhaus.format == "csv" and urlhaus.problems == []
    assert [(i.observable, i.value, i.where) for i in urlhaus.items] == [
        ("url", "http://61.54.253.89:37352/bin.sh", "line 6"), ("url", "smb://198.51.100.9/share/a.exe", "line 7")]
    feodo = parse(FEODO_LAYOUT, filename="ipblocklist.txt")
    indicator, malware, relationship = feodo.items
    assert (indicator.observable, indicator.value) == ("ipv4-addr", "203.0.113.44")
    assert malware.stix_type == "malware" and malware.body == {"name": "QakBot", "is_family": True}
    assert relationship.body == {"relationship_type": "indicates", "source_ref": indicator.id, "target_ref": malware.id}


def test_prose_with_commas_is_not_taken_for_a_csv():
    assert parse("Hello, the zip and the ip we saw: evil.example\n", filename="note.txt").format == "text"


def test_report_text_file_names_contacts_and_defanged_values():
    text = ("Contact us at threatintel@vendor.example for questions.\n"
            "The dropper `secretsdump.py` and run.sh fetched security.zip from hxxp://bad-host[.]example/x\n"
            "and beaconed to c2[.]evil-domain[.]com and 45.77.65[.]23; detected as Python/Spy.Agent.BB.\n"
            "Exfiltration went to drop@evil-mail.example.\n")
    parsed = parse(text, filename="report.md")
    assert {(i.observable, i.value) for i in parsed.items} == {
        ("url", "http://bad-host.example/x"), ("domain-name", "c2.evil-domain.com"),
        ("ipv4-addr", "45.77.65.23"), ("email-addr", "drop@evil-mail.example")}
    [contact] = parsed.problems
    assert contact.code == Reason.PERSONAL_DATA and contact.skipped and "vendor" not in contact.where + contact.reason


INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--0b0f0d3e-3f66-4d5c-9a43-2cba7a3f4a11",
             "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[domain-name:value = 'withdrawn.example']", "pattern_type": "stix",
             "valid_from": "2026-01-01T00:00:00Z"}
MALWARE = {"type": "malware", "spec_version": "2.1", "id": "malware--6a1e1a52-0f7e-4a43-8e0b-5f1b2f3c4d5e",
           "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "Withdrawn",
           "is_family": True}
INDICATES = {"type": "relationship", "spec_version": "2.1", "id": "relationship--7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
             "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "relationship_type": "indicates",
             "source_ref": INDICATOR["id"], "target_ref": MALWARE["id"]}


def bundle(*objects):
    return orjson.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                         "objects": list(objects)})


def test_a_revoked_stix_object_is_a_withdrawal_of_the_same_record():
    shared = parse(bundle(INDICATOR, MALWARE, INDICATES))
    taken_back = parse(bundle({**INDICATOR, "revoked": True, "modified": "2026-02-01T00:00:00Z"}, MALWARE, INDICATES))
    by_type = {item.stix_type: item for item in taken_back.items}
    assert by_type["indicator"].withdraw and not by_type["malware"].withdraw
    assert by_type["indicator"].id == next(i.id for i in shared.items if i.stix_type == "indicator")
    # what points at a withdrawn object is not shared: it would dangle
    assert "relationship" not in by_type
    assert [(p.where, p.code) for p in taken_back.problems] == [(f"object {INDICATES['id']}", Reason.WITHHELD_REF)]
    revoked_malware = parse(bundle({**MALWARE, "revoked": True}))
    assert [(i.withdraw, i.id) for i in revoked_malware.items] == [
        (True, next(i.id for i in shared.items if i.stix_type == "malware"))]


def test_a_deleted_misp_attribute_is_a_withdrawal_and_leaves_the_event_report():
    def event(deleted):
        return orjson.dumps({"Event": {"uuid": "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "info": "x", "Attribute": [
            {"uuid": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "type": "domain", "value": "deleted.example",
             "to_ids": True, "deleted": deleted},
            {"uuid": "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e", "type": "ip-dst", "value": "198.51.100.7",
             "to_ids": True}]}})
    before, after = parse(event(False)), parse(event(True))
    domain = next(i for i in before.items if i.value == "deleted.example")
    gone = [i for i in after.items if i.withdraw]
    assert [(i.id, i.value) for i in gone] == [(domain.id, "deleted.example")]
    report = next(i for i in after.items if i.stix_type == "report")
    assert domain.id not in report.body["object_refs"] and not after.problems


def test_a_withdrawal_file_lists_values_and_ids():
    parsed = parse("# withdrawn after review\nevil[.]example\n\nindicator--0b0f0d3e-3f66-4d5c-9a43-2cba7a3f4a11\n"
                   "not a value\n", "withdrawal")
    assert [(i.where, i.stix_type, i.withdraw) for i in parsed.items] == [
        ("line 2", "indicator", True), ("line 4", "indicator", True)]
    assert parsed.items[1].id == "indicator--0b0f0d3e-3f66-4d5c-9a43-2cba7a3f4a11"
    assert [(p.where, p.code) for p in parsed.problems] == [("line 5", Reason.INVALID_VALUE)]
    assert detect("evil.example\n", None) != "withdrawal"  # only ever asked for
