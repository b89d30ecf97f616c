"""Known-benign values from the MISP warning lists, matched on the hot path.

pymispwarninglists' own search costs ~50 µs a value; this index does exact,
parent-domain and address-range lookups in about 1 µs. Which lists count is
decided here, in one place: every string and hostname list (top sites, test
files, known services), and of the address-range lists only those that mean
"not an attack source" (public DNS resolvers, reserved ranges, sinkholes) —
cloud and CDN ranges host real attacks too, so they do not weigh against.
"""
from __future__ import annotations

import bisect
import ipaddress
from array import array
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

import xxhash

BENIGN_RANGE_LISTS = ("public DNS resolvers", "RFC", "sinkholes", "multicast", "link local", "blockpage")


class Warnings(Protocol):
    """What normalisation asks of the warning lists; `WarningIndex` (sets) and `CompactIndex` (a shared file)."""

    def match(self, observable: str | None, value: str | None) -> list[str]: ...


class WarningIndex:
    def __init__(self, lists: Iterable[tuple[str, str, set[str]]]) -> None:
        """`lists`: (name, MISP list type, entries as a set of lower-case strings)."""
        self._strings: list[tuple[str, set[str]]] = []
        self._hostnames: list[tuple[str, set[str]]] = []
        self._addresses: dict[str, list[str]] = {}
        self._networks: list[tuple[int, int, int, str]] = []  # (version, first, last, list name)
        for name, kind, entries in lists:
            if kind == "string":
                self._strings.append((name, entries))
            elif kind == "hostname":
                self._hostnames.append((name, entries))
            elif kind == "cidr" and any(marker in name for marker in BENIGN_RANGE_LISTS):
                for entry in entries:
                    self._add_range(entry.strip(), name)
        # One union per kind answers the common "not listed" case with a single set lookup.
        self._any_string = frozenset().union(*(entries for _, entries in self._strings))
        self._any_hostname = frozenset().union(*(entries for _, entries in self._hostnames))

    def _add_range(self, entry: str, name: str) -> None:
        parsed = parse_range(entry)
        if isinstance(parsed, str):
            self._addresses.setdefault(parsed, []).append(name)
        elif parsed is not None:
            self._networks.append((*parsed, name))

    def match(self, observable: str | None, value: str | None) -> list[str]:
        """Names of the lists that hold this canonical value (empty: not known-benign)."""
        if not observable or not value:
            return []
        found = [name for name, entries in self._strings if value in entries] if value in self._any_string else []
        if observable == "domain-name":
            labels = value.split(".")
            for start in range(len(labels) - 1):
                parent = ".".join(labels[start:])
                if parent in self._any_hostname:
                    found += [name for name, entries in self._hostnames if parent in entries]
        elif observable in ("ipv4-addr", "ipv6-addr") and "/" not in value:
            found += self._addresses.get(value, ())
            if self._networks:
                address = ipaddress.ip_address(value)
                number, version = int(address), address.version
                found += [name for v, first, last, name in self._networks if v == version and first <= number <= last]
        return sorted(set(found))


def parse_range(entry: str) -> str | tuple[int, int, int] | None:
    """A CIDR list entry as a canonical single address, or (version, first, last); None if unreadable."""
    address, _, prefix = entry.strip().partition("/")
    if not prefix or prefix in ("32", "128"):  # single addresses: most entries, looked up exactly
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            return None
    try:
        network = ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None
    return network.version, int(network.network_address), int(network.broadcast_address)


def misp_lists() -> Iterator[tuple[str, str, set[str]]]:
    """(name, type, entries) of every warning list shipped with pymispwarninglists."""
    from pymispwarninglists.api import WarningLists

    for wl in WarningLists(slow_search=False).warninglists.values():
        yield wl.name, wl.type, wl.set


# --- the compact index: one file, memory-mapped and shared by every worker on a host ------------------------------
#
# Python sets of the 2.4 million listed strings cost ~450 MiB per worker and many seconds to load. The compact form
# keeps the same answers in flat arrays (`CompactLayout`): an open-addressing table of 64-bit xxh3 keys, each slot
# naming the value (for verification: a hash collision can never mark a value benign) and the list. Mapped
# read-only from one file, its pages are shared by the workers of a host.

EMPTY = 0
MAX_LOAD = 0.7  # linear probing: ~3 slots read per miss at this load
_TAGS = {"string": b"s\x00", "hostname": b"h\x00", "address": b"a\x00"}


def _key(tag: bytes, value: str) -> int:
    return xxhash.xxh3_64_intdigest(tag + value.encode()) or 1  # 0 marks an empty slot


class CompactLayout(NamedTuple):
    """The arrays of a compact index; `build_compact` makes them, `CompactIndex` reads them (any buffer)."""
    slots: memoryview          # uint64 keys, a power of two long, EMPTY where free
    slot_value: memoryview     # uint32: the value a slot holds (index into value_offsets)
    slot_list: memoryview      # uint16: the list it is on (index into names)
    value_offsets: memoryview  # uint32: start of each value in `blob`, one more than there are values
    blob: memoryview           # the values, UTF-8, back to back
    names: list[str]           # list names
    networks: list[tuple[int, int, int, int]]  # (version, first, last, list index) of the benign ranges


def build_compact(lists: Iterable[tuple[str, str, set[str]]]) -> CompactLayout:
    """The compact form of exactly what `WarningIndex(lists)` answers."""
    names: list[str] = []
    pairs: dict[tuple[bytes, str], list[int]] = {}
    networks: list[tuple[int, int, int, int]] = []
    for name, kind, entries in lists:
        if kind not in ("string", "hostname", "cidr") or (
                kind == "cidr" and not any(marker in name for marker in BENIGN_RANGE_LISTS)):
            continue
        names.append(name)
        index = len(names) - 1
        for entry in entries:
            if kind != "cidr":
                pairs.setdefault((_TAGS[kind], entry), []).append(index)
                continue
            parsed = parse_range(entry)
            if isinstance(parsed, str):
                pairs.setdefault((_TAGS["address"], parsed), []).append(index)
            elif parsed is not None:
                networks.append((*parsed, index))
    count = sum(len(ids) for ids in pairs.values())
    size = 1 << max(4, int(count / MAX_LOAD).bit_length())
    slots, slot_value, slot_list = array("Q", bytes(8 * size)), array("I", bytes(4 * size)), array("H", bytes(2 * size))
    value_offsets, blob = array("I"), bytearray()
    mask = size - 1
    for value_index, ((tag, value), ids) in enumerate(pairs.items()):
        value_offsets.append(len(blob))
        blob += value.encode()
        key = _key(tag, value)
        slot = key & mask
        for list_index in ids:
            while slots[slot] != EMPTY:
                slot = (slot + 1) & mask
            slots[slot], slot_value[slot], slot_list[slot] = key, value_index, list_index
    value_offsets.append(len(blob))
    return CompactLayout(memoryview(slots), memoryview(slot_value), memoryview(slot_list), memoryview(value_offsets),
                         memoryview(bytes(blob)), names, sorted(networks))


class CompactIndex:
    """`WarningIndex`'s answers from a `CompactLayout` (held equal to it by a differential test)."""

    def __init__(self, layout: CompactLayout) -> None:
        self._layout = layout
        self._mask = len(layout.slots) - 1
        # Ranges sorted by first address; `_reach[i]` is the highest last address among ranges 0..i, so a lookup
        # bisects to the candidates and stops scanning back once no earlier range can reach the address.
        self._ranges = {version: [r for r in layout.networks if r[0] == version] for version in (4, 6)}
        self._firsts = {v: [r[1] for r in ranges] for v, ranges in self._ranges.items()}
        self._reach = {v: _running_max([r[2] for r in ranges]) for v, ranges in self._ranges.items()}

    def _lists(self, tag: bytes, value: str) -> list[str]:
        layout, encoded = self._layout, value.encode()
        key = xxhash.xxh3_64_intdigest(tag + encoded) or 1
        slot, found = key & self._mask, []
        while (held := layout.slots[slot]) != EMPTY:
            if held == key:
                value_index = layout.slot_value[slot]
                if layout.blob[layout.value_offsets[value_index]:layout.value_offsets[value_index + 1]] == encoded:
                    found.append(layout.names[layout.slot_list[slot]])
            slot = (slot + 1) & self._mask
        return found

    def _in_ranges(self, value: str) -> list[str]:
        address = ipaddress.ip_address(value)
        number, version = int(address), address.version
        ranges, reach = self._ranges[version], self._reach[version]
        found = []
        i = bisect.bisect_right(self._firsts[version], number) - 1
        while i >= 0 and reach[i] >= number:
            if ranges[i][2] >= number:
                found.append(self._layout.names[ranges[i][3]])
            i -= 1
        return found

    def match(self, observable: str | None, value: str | None) -> list[str]:
        """Names of the lists that hold this canonical value (empty: not known-benign)."""
        if not observable or not value:
            return []
        found = self._lists(_TAGS["string"], value)
        if observable == "domain-name":
            labels = value.split(".")
            for start in range(len(labels) - 1):
                found += self._lists(_TAGS["hostname"], ".".join(labels[start:]))
        elif observable in ("ipv4-addr", "ipv6-addr") and "/" not in value:
            found += self._lists(_TAGS["address"], value)
            found += self._in_ranges(value)
        return sorted(set(found))


def _running_max(values: list[int]) -> list[int]:
    out: list[int] = []
    for value in values:
        out.append(max(value, out[-1]) if out else value)
    return out
