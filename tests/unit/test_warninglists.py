"""The compact, memory-mapped warning-list index answers exactly what the reference (set) index answers."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.warninglists import CompactIndex, WarningIndex, build_compact
from streams.warninglist_cache import read, write

LISTS = [
    ("Top sites", "hostname", {"example.com", "google.com", "co.jp", "bücher.example"}),
    ("Known hashes", "string", {"d41d8cd98f00b204e9800998ecf8427e", "example.com", "8.8.8.8"}),
    ("More top sites", "hostname", {"google.com", "mail.example.org"}),
    ("List of known IPv4 public DNS resolvers", "cidr", {"8.8.8.8/32", "1.1.1.1", "9.9.9.0/24", "bogus"}),
    ("List of RFC 1918 CIDR blocks", "cidr", {"10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "10.1.0.0/16"}),
    ("List of RFC 3849 CIDR blocks", "cidr", {"2001:db8::/32", "2001:0db8:0:0::1/128"}),
    ("Amazon AWS IP address ranges", "cidr", {"3.5.140.0/22"}),  # hosts attacks too: not benign, ignored
    ("Substring list", "substring", {"exam"}),
]
PROBES = [("domain-name", "www.example.com"), ("domain-name", "example.com"), ("domain-name", "x.co.jp"),
          ("domain-name", "google.com"), ("domain-name", "mail.example.org"), ("domain-name", "example.org"),
          ("domain-name", "bücher.example"), ("file-md5", "d41d8cd98f00b204e9800998ecf8427e"),
          ("ipv4-addr", "8.8.8.8"), ("ipv4-addr", "9.9.9.9"), ("ipv4-addr", "10.1.2.3"), ("ipv4-addr", "11.0.0.1"),
          ("ipv4-addr", "1.1.1.1"), ("ipv4-addr", "3.5.140.1"), ("ipv6-addr", "2001:db8::1"),
          ("ipv6-addr", "2001:db9::1"), ("ipv4-addr", "10.0.0.0/8"), ("url", "http://example.com/"), (None, "x"),
          ("domain-name", None)]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[WarningIndex, CompactIndex]:
    path = tmp_path_factory.mktemp("wl") / "index.bin"
    write(build_compact(LISTS), path)
    return WarningIndex(LISTS), CompactIndex(read(path))


@pytest.mark.parametrize(("observable", "value"), PROBES)
def test_same_answers_as_reference(both: tuple[WarningIndex, CompactIndex], observable: str, value: str) -> None:
    reference, compact = both
    assert compact.match(observable, value) == reference.match(observable, value)


def test_answers_are_not_trivially_empty(both: tuple[WarningIndex, CompactIndex]) -> None:
    _, compact = both
    assert compact.match("domain-name", "www.example.com") == ["Top sites"]
    assert compact.match("domain-name", "example.com") == ["Known hashes", "Top sites"]
    assert compact.match("ipv4-addr", "10.1.2.3") == ["List of RFC 1918 CIDR blocks"]
    assert compact.match("ipv4-addr", "3.5.140.1") == []


@settings(max_examples=40)
@given(st.lists(st.tuples(st.sampled_from(["string", "hostname", "cidr"]),
                          st.sets(st.from_regex(r"[a-z0-9]{1,6}(\.[a-z]{1,3}){0,2}", fullmatch=True), max_size=30)),
                max_size=6),
       st.lists(st.from_regex(r"[a-z0-9]{1,6}(\.[a-z]{1,3}){0,3}", fullmatch=True), max_size=20),
       st.lists(st.ip_addresses(v=4).map(str), max_size=10))
def test_random_lists_same_answers(kinds: list[tuple[str, set[str]]], names: list[str], addresses: list[str]) -> None:
    rng = random.Random(len(names))
    lists = [(f"List of RFC {i}" if kind == "cidr" else f"list {i}", kind,
              entries if kind != "cidr" else {f"{rng.randrange(256)}.{rng.randrange(256)}.0.0/{rng.choice((8, 16, 24))}"
                                              for _ in entries} | set(addresses))
             for i, (kind, entries) in enumerate(kinds)]
    reference, compact = WarningIndex(lists), CompactIndex(build_compact(lists))
    for name in names + [entry for _, _, entries in lists for entry in entries]:
        assert compact.match("domain-name", name) == reference.match("domain-name", name)
    for address in addresses:
        assert compact.match("ipv4-addr", address) == reference.match("ipv4-addr", address)


def test_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "index.bin"
    write(build_compact(LISTS), path)
    write(build_compact(LISTS[:1]), path)
    assert CompactIndex(read(path)).match("file-md5", "d41d8cd98f00b204e9800998ecf8427e") == []
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]
