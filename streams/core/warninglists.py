"""Known-benign values from the MISP warning lists, matched on the hot path.

pymispwarninglists' own search costs ~50 µs a value; this index does exact,
parent-domain and address-range lookups in about 1 µs. Which lists count is
decided here, in one place: every string and hostname list (top sites, test
files, known services), and of the address-range lists only those that mean
"not an attack source" (public DNS resolvers, reserved ranges, sinkholes) —
cloud and CDN ranges host real attacks too, so they do not weigh against.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

BENIGN_RANGE_LISTS = ("public DNS resolvers", "RFC", "sinkholes", "multicast", "link local", "blockpage")


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
        address, _, prefix = entry.partition("/")
        if not prefix or prefix in ("32", "128"):  # single addresses: most entries, kept in a dict
            try:
                self._addresses.setdefault(str(ipaddress.ip_address(address)), []).append(name)
            except ValueError:
                pass
            return
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return
        self._networks.append((network.version, int(network.network_address), int(network.broadcast_address), name))

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


def load_misp() -> WarningIndex:
    """The index over the warning lists shipped with pymispwarninglists."""
    from pymispwarninglists.api import WarningLists

    lists = WarningLists(slow_search=False).warninglists.values()
    return WarningIndex((wl.name, wl.type, wl.set) for wl in lists)
