"""The plain-attribute fast path of the MISP reader gives what misp-stix gives.

`plain_parts` takes the common attribute types without running misp-stix (13× faster
on the benchmark's events). For every such type, valid values and edge cases and
random text go through both paths, and the records and rejection codes must agree.
(A one-off run of 3,000 mutated values over the 12 types found no difference; composite
types and hostname, where it found some, stay with misp-stix.)
"""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.misp_in import ATTRIBUTE_KINDS, PLAIN_TYPES, parse_misp

MD5, SHA1 = "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA512 = ("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
BY_KIND = {
    "ipv4-addr": ["45.77.65.211", "10.0.0.1", "1.2.3.4/24", "2001:db8::1", "2001:DB8:0:0::1", " 8.8.4.4 ", "999.1.1.1",
                  "nope"],
    "domain-name": ["Evil.Example", "evil.example.", "xn--80ak6aa92e.com", "аррӏе.com", "a..b", "-bad-.example"],
    "url": ["http://evil.example/x?y=1", "HXXP://evil[.]example/a", "evil.example/path", "http://1.2.3.4:8080/", "::"],
    "file-md5": [MD5, MD5.upper(), MD5[:-1], "z" * 32],
    "file-sha1": [SHA1, SHA1.upper(), "0" * 39],
    "file-sha256": [SHA256, "g" * 64],
    "file-sha512": [SHA512, SHA512[:100]],
    "email-addr": ["a@evil.example", "A@EVIL.EXAMPLE", "not-an-email"],
}


def event(misp_type: str, value: str) -> dict:
    return {"Event": {"uuid": "5f9b1c7e-1111-4c2e-9f3a-000000000001", "info": "t", "Tag": [{"name": "tlp:green"}],
                      "Attribute": [{"uuid": "5f9b1c7e-2222-4c2e-9f3a-000000000002", "type": misp_type,
                                     "value": value, "to_ids": True}]}}


def outcome(parsed) -> tuple:
    items = sorted((item.id, item.observable, item.value, item.tlp) for item in parsed.items)
    return items, sorted(problem.code for problem in parsed.problems)


def values_for(misp_type: str) -> list[str]:
    return BY_KIND[ATTRIBUTE_KINDS[misp_type][0]]


@pytest.mark.parametrize("misp_type", sorted(PLAIN_TYPES))
def test_plain_path_equals_misp_stix(misp_type):
    for value in values_for(misp_type):
        document = event(misp_type, value)
        fast, slow = outcome(parse_misp(document)), outcome(parse_misp(document, plain=False))
        assert fast == slow, (misp_type, value, fast, slow)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(PLAIN_TYPES)), st.text(max_size=40))
def test_plain_path_equals_misp_stix_on_any_text(misp_type, value):
    document = orjson.loads(orjson.dumps(event(misp_type, value)))
    assert outcome(parse_misp(document)) == outcome(parse_misp(document, plain=False))


def test_the_attribute_type_table_is_pymisps_and_plain_events_do_not_load_misp_stix() -> None:
    """The reader takes MISP's attribute types from pymisp's data file without importing pymisp
    (importing misp-stix costs ~2 s and ~77 MiB of a worker): same table, and a fresh process that
    reads an event of plain attributes has not imported either."""
    import subprocess
    import sys

    from pymisp.abstract import describe_types

    from streams.core.misp_in import _detection_defaults

    assert _detection_defaults() == {name: bool(d.get("to_ids"))
                                     for name, d in describe_types["sane_defaults"].items()}
    script = ("import sys\nfrom streams.core.misp_in import parse_misp\n"
              f"parsed = parse_misp({event('ip-dst', '45.77.65.211')!r})\n"
              "assert [i.value for i in parsed.items if i.value] == ['45.77.65.211'], parsed\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymisp', 'misp_stix_converter')))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
