"""Hostile and malformed input: the parser never raises, never hangs, and says what is wrong.

Hypothesis throws random bytes, random JSON shaped like STIX and MISP, CSV with
quotes and formula injections, look-alike unicode, odd IPv6/CIDR and pathological
patterns at parse_submission and at feedback validation.
"""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.feedback import validate
from streams.core.formats import FORMATS, Limits, parse_submission
from streams.members import Member, Registry

LIMITS = Limits(max_bytes=64 * 1024, max_objects=200, max_depth=16)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
stix_like = st.fixed_dictionaries({"type": st.just("bundle"), "objects": st.lists(st.dictionaries(
    st.sampled_from(["type", "id", "pattern", "pattern_type", "object_marking_refs", "source_ref", "target_ref",
                     "sighting_of_ref", "count", "name", "external_references", "granular_markings"]),
    json_values | st.sampled_from(["indicator", "relationship", "sighting", "malware", "identity",
                                   "[ipv4-addr:value = '1.2.3.4']", "[url:value = ''", "[" * 50,
                                   "[domain-name:value = 'xn--80ak6aa92e.com'] AND [file:size > 10]"]),
    max_size=8), max_size=10)})
misp_like = st.fixed_dictionaries({"Event": st.fixed_dictionaries({"Attribute": st.lists(st.fixed_dictionaries({
    "type": st.sampled_from(["ip-dst", "domain", "url", "md5", "domain|ip", "filename|sha256", "comment", "x"]),
    "value": st.text(max_size=60) | st.sampled_from(["аррӏе.com", "2001:db8::/0", "::ffff:1.2.3.4", "1.2.3.4/33",
                                                      "a|b|c", "=cmd|' /C calc'!A0", "\x00"]),
    "Tag": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["tlp:green", "tlp:red", "tlp:ex:x", "tlp:"])}),
                    max_size=2)}), max_size=10)})})
csv_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ['"quoted, comma"', '=HYPERLINK("x")', "@SUM(1)", "+1-1", "1.2.3.4", "evil[.]example", "'\"", "\r\n"])


def check(parsed) -> None:
    assert parsed.format in FORMATS
    for problem in parsed.problems:
        assert problem.where and problem.code and problem.reason
    for item in parsed.items:
        assert item.id and item.stix_type


@FAST
@given(st.binary(max_size=2048), st.sampled_from(FORMATS))
def test_random_bytes(payload, fmt):
    check(parse_submission(payload, fmt, "x", LIMITS))


@FAST
@given(stix_like)
def test_stix_shaped_json(document):
    check(parse_submission(orjson.dumps(document), "stix", "x.json", LIMITS))


@FAST
@given(misp_like)
def test_misp_shaped_json(document):
    check(parse_submission(orjson.dumps(document), "misp", "x.json", LIMITS))


@FAST
@given(st.lists(st.lists(csv_cells, min_size=1, max_size=4), max_size=20))
def test_csv_with_quotes_and_injections(rows):
    text = "type,value\n" + "\n".join(",".join(row) for row in rows)
    parsed = parse_submission(text.encode(), "csv", "x.csv", LIMITS)
    check(parsed)
    for item in parsed.items:  # nothing that starts a spreadsheet formula is ever shared
        assert not (item.value or "").startswith(("=", "+", "@"))


@FAST
@given(st.text(max_size=500))
def test_report_text(text):
    check(parse_submission(text.encode(), "text", "x.txt", LIMITS))


def test_deep_and_wide_json_is_refused_without_recursion():
    roomy = Limits(max_bytes=1 << 20, max_objects=200, max_depth=16)
    deep = b"[" * 100_000 + b"]" * 100_000  # orjson stops at 1,024 levels, our limit at 16
    assert [p.code for p in parse_submission(deep, "stix", "x", roomy).problems] == ["malformed"]
    assert [p.code for p in parse_submission(b"[" * 20 + b"]" * 20, "stix", "x", roomy).problems] == ["too-deep"]
    wide = orjson.dumps({"type": "bundle", "objects": [{"type": "malware", "name": str(i)} for i in range(1000)]})
    assert [p.code for p in parse_submission(wide, "stix", "x", roomy).problems] == ["too-many"]


REGISTRY = Registry(members=[Member(id="acme", default_tlp="green")])


@FAST
@given(st.fixed_dictionaries({"feedback_id": st.text(max_size=70), "member": st.sampled_from(["acme", "mallory", ""]),
                              "kind": st.text(max_size=20) | st.sampled_from(["sighting", "confirm", "false-positive"]),
                              "indicator": st.text(max_size=80), "count": st.integers(-10, 10**7),
                              "tlp": st.none() | st.text(max_size=12), "observed_at": st.integers(0, 2**40)}))
def test_feedback_is_valid_or_rejected_with_a_reason(item):
    record, problem = validate(item, REGISTRY, "m-1")
    assert (record is None) != (problem is None)
    if problem:
        assert problem.code and problem.reason
    else:
        assert 1 <= record["count"] <= 1_000_000 and record["member"] == "m-1"
