"""Continuously maintained blocklists: plain lists per kind and a Suricata rules file.

The set is keyed by STIX id. Each record version that arrives adds, replaces or removes its
indicator; a revoked or expired one (`valid_until` at or before the clock passed in) leaves
the lists, and so does, unless asked otherwise, an unconfirmed one. Files are replaced
atomically (written beside, then renamed), so a firewall or IDS never reads half a list.

Suricata sids are derived from the STIX id, so the same indicator keeps its sid across
rewrites and restarts: a slot from the id's UUID, two sids per slot (a domain has a DNS and a
TLS rule). Two ids whose slots collide are told apart by probing the next free slot in id
order, which keeps both stable as long as the set of colliding ids does not change.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

from connectors.siem.indicator import Current, Indicator
from connectors.siem.settings import SID_SPAN
from streams.core.canonical import PATTERN_PATHS
from streams.tlp import TLP

RULES_FILE = "kizuna.rules"
SIDS_PER_SLOT = 2
_SLOTS = SID_SPAN // SIDS_PER_SLOT
RULE_KINDS = ("ipv4-addr", "ipv6-addr", "domain-name")  # what Suricata can match on from a list value


def list_file(kind: str) -> str:
    """The plain list of one kind: ipv4-addr.txt, domain-name.txt, file-sha256.txt ..."""
    return f"{kind}.txt"


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


class Blocklist:
    def __init__(self, unconfirmed: bool = False) -> None:
        """`unconfirmed`: list unconfirmed indicators too (by default only confirmed ones block)."""
        self._current = Current()
        self._unconfirmed = unconfirmed
        self._listed: dict[str, Indicator] = {}

    def _relist(self, ident: str, now: datetime) -> str:
        shown = self._current.representative(ident, now, self._unconfirmed)
        was_listed = ident in self._listed
        if shown is None:
            self._listed.pop(ident, None)
            return "removed" if was_listed else "unlisted"
        self._listed[ident] = shown
        return "replaced" if was_listed else "added"

    def apply(self, topic: str, indicator: Indicator, now: datetime) -> str:
        """One record version from `topic` -> added, replaced, removed, unlisted (not live and not
        listed before), stale (older than the version held) or unlistable (a complex pattern)."""
        if indicator.value is None:
            return "unlistable"
        if not self._current.apply(topic, indicator):
            return "stale"
        return self._relist(indicator.id, now)

    def expire(self, now: datetime) -> list[str]:
        """Ids that left the lists because `valid_until` passed by `now`."""
        return [ident for ident in list(self._listed) if self._relist(ident, now) == "removed"]

    def drop_topic(self, topic: str, now: datetime) -> None:
        """The member may no longer read `topic`: what only it gave leaves the lists."""
        for ident in self._current.drop_topic(topic):
            self._relist(ident, now)

    def values(self) -> dict[str, list[str]]:
        """Listed values per kind, sorted; every kind present, empty or not."""
        found: dict[str, set[str]] = {kind: set() for kind in PATTERN_PATHS}
        for shown in self._listed.values():
            if shown.observable and shown.value:  # only simple indicators are listed
                found[shown.observable].add(shown.value)
        return {kind: sorted(values) for kind, values in found.items()}

    def sids(self) -> dict[str, int]:
        """The first sid of each listed indicator that has Suricata rules."""
        taken: set[int] = set()
        out = {}
        for ident in sorted(i for i, shown in self._listed.items() if shown.observable in RULE_KINDS):
            slot = uuid.UUID(ident.removeprefix("indicator--")).int % _SLOTS
            while slot in taken:
                slot = (slot + 1) % _SLOTS
            taken.add(slot)
            out[ident] = slot * SIDS_PER_SLOT
        return out

    def rules(self, sid_base: int) -> str:
        """The Suricata rules file: one IP rule per address or range, DNS and TLS SNI rules per domain."""
        listed = [shown for shown in self._listed.values() if shown.observable in RULE_KINDS]
        top = max((shown.tlp for shown in listed), default=TLP.CLEAR)
        lines = [f"# kizuna blocklist, {len(listed)} indicators. Highest marking of a rule here: {top.label}."]
        for ident, offset in sorted(self.sids().items(), key=lambda pair: pair[1]):
            shown, sid = self._listed[ident], sid_base + offset
            meta = f"metadata:kizuna_id {ident}, tlp {shown.tlp.slug}, confidence {shown.confidence}"
            if shown.observable == "domain-name":
                match = f'dotprefix; content:".{shown.value}"; nocase; endswith'
                lines.append(f'alert dns any any -> any any (msg:"kizuna domain-name {shown.value} (DNS query)"; '
                             f"dns.query; {match}; {meta}; sid:{sid}; rev:1;)")
                lines.append(f'alert tls any any -> any any (msg:"kizuna domain-name {shown.value} (TLS SNI)"; '
                             f"tls.sni; {match}; {meta}; sid:{sid + 1}; rev:1;)")
            else:
                lines.append(f'alert ip [{shown.value}] any <> any any (msg:"kizuna {shown.observable} {shown.value}"; '
                             f"{meta}; sid:{sid}; rev:1;)")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path, sid_base: int) -> list[Path]:
        """Every list and the rules file, each replaced atomically; returns their paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for kind, values in self.values().items():
            path = out_dir / list_file(kind)
            write_atomically(path, "".join(f"{value}\n" for value in values))
            written.append(path)
        path = out_dir / RULES_FILE
        write_atomically(path, self.rules(sid_base))
        return [*written, path]
