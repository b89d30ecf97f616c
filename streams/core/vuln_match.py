"""Which members' assets an advisory concerns, on what basis, and what to send, escalate or revoke.

The rule (docs/vulnerabilities.md):
- vendor and product must agree after the alias table below (names that differ between NVD,
  JVN and vendors' own advisories); a wildcard vendor or product never matches;
- exact: the advisory names the asset's version (and its update, where the advisory names one);
- range: the asset's version lies inside the advisory's range, compared by a version library
  (univers: the purl type's own scheme, else a generic dotted scheme), never as strings;
- product: the advisory gives its versions as free text no library can compare (JVN); the
  notice says "version not verified";
- a wildcard version on either side never matches by itself: an advisory entry with no version,
  no range and no text, or an asset with no version against a version or a range.

Pure state (`Catalogue`): the agent feeds it advisories and assets and sends what it decides.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from univers.version_range import RANGE_CLASS_BY_SCHEMES
from univers.versions import InvalidVersion, SemverVersion, Version

from streams.core.vuln_model import WILDCARDS, Advisory, Affected, Software, norm

Basis = Literal["exact", "range", "product"]
RANK: dict[str, int] = {"exact": 3, "range": 2, "product": 1}
VIEW_CACHE = 20_000  # vulnerabilities whose merged view is kept between decisions

# Names that differ between sources, to the form NVD's CPE dictionary uses; each entry comes from
# a real pair of records (docs/vulnerabilities.md says how to add one).
VENDOR_ALIASES: dict[str, str] = {
    # CVE-2022-41993: the CNA's record names the vendor in full, NVD's CPE and JVN's use JACIC.
    "japan_construction_information_center": "jacic",
    "一般財団法人日本建設情報総合センター": "jacic",
    # KEV's vendorProject and CSAF's vendor branch use the company's name, NVD's CPE another.
    "palo_alto_networks": "paloaltonetworks",
    "synacor": "zimbra",
    "csaf_tools": "csaf-tools",
}
PRODUCT_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    # CVE-2022-41993 / JVNDB-2022-000097: 電子入札コアシステム, "DENSHI NYUSATSU CORE SYSTEM" in the CVE text.
    ("jacic", "denshi_nyusatsu_core_system"): ("jacic", "electronic_bidding_core_system"),
    ("jacic", "電子入札コアシステム"): ("jacic", "electronic_bidding_core_system"),
    ("zimbra", "zimbra_collaboration_suite"): ("zimbra", "collaboration"),
    # purls name the package, NVD the project: Maven's log4j-core is NVD's apache:log4j.
    ("org.apache.logging.log4j", "log4j-core"): ("apache", "log4j"),
    ("zimbra", "collaboration_suite"): ("zimbra", "collaboration"),
}


class Aliases:
    """The alias table in use: the built-in entries plus the operator's."""

    def __init__(self, vendors: dict[str, str] | None = None,
                 products: dict[tuple[str, str], tuple[str, str]] | None = None) -> None:
        self.vendors = {norm(k): norm(v) for k, v in {**VENDOR_ALIASES, **(vendors or {})}.items()}
        self.products = {(norm(a), norm(b)): (norm(c), norm(d))
                         for (a, b), (c, d) in {**PRODUCT_ALIASES, **(products or {})}.items()}

    def key(self, vendor: str, product: str) -> tuple[str, str]:
        vendor = self.vendors.get(vendor, vendor)
        return self.products.get((vendor, product), (vendor, product))


@lru_cache(maxsize=64)
def _scheme(ecosystem: str) -> type[Version]:
    """The version class of a purl type (pypi, npm, maven, deb ...), else a semver-like generic one."""
    range_class = RANGE_CLASS_BY_SCHEMES.get(ecosystem) if ecosystem else None
    found: type[Version] | None = getattr(range_class, "version_class", None)
    return found or _Generic


class _Generic(SemverVersion):
    """Dotted numeric versions as NVD writes them (2.15.0, 10.4.2, 2019.1, 6): padded to three parts."""

    @classmethod
    def build_value(cls, string: str) -> Any:
        parts = string.strip().lstrip("vV").split(".")
        if len(parts) < 3 and all(p.isdigit() for p in parts):
            string = ".".join(parts + ["0"] * (3 - len(parts)))
        return super().build_value(string)  # type: ignore[no-untyped-call]


@lru_cache(maxsize=262144)
def version(text: str, ecosystem: str = "") -> Version | None:
    """A comparable version, or None when the library cannot read it (then nothing is compared)."""
    try:
        return _scheme(ecosystem)(text)
    except (InvalidVersion, ValueError, TypeError):
        return None


def _same_version(asset: Software, entry: Affected) -> bool:
    if entry.version in WILDCARDS or asset.wildcard_version:
        return False
    wanted, have = version(entry.version, asset.ecosystem), version(asset.version, asset.ecosystem)
    same = wanted == have if wanted is not None and have is not None else entry.version == asset.version
    if not same:
        return False
    if entry.update == "*":
        return True
    mine = "-" if asset.update in {"*", ""} else asset.update  # no update given: the base release
    return entry.update == mine


def _in_range(asset: Software, entry: Affected) -> bool:
    if asset.wildcard_version or entry.version not in WILDCARDS:
        return False
    have = version(asset.version, asset.ecosystem)
    if have is None:
        return False
    if entry.start:
        low = version(entry.start, asset.ecosystem)
        if low is None or have < low or (have == low and not entry.start_incl):
            return False
    if entry.end:
        high = version(entry.end, asset.ecosystem)
        if high is None or have > high or (have == high and not entry.end_incl):
            return False
    return True


def basis(asset: Software, entry: Affected) -> Basis | None:
    """How `entry` (same vendor and product) concerns `asset`, or None."""
    if entry.has_range:
        return "range" if _in_range(asset, entry) else None
    if entry.version not in WILDCARDS:
        return "exact" if _same_version(asset, entry) else None
    if entry.text:
        return "product"
    return None  # a wildcard entry: never by itself


@dataclass
class View:
    """Everything known of one vulnerability, from every source that speaks of it."""

    id: str
    advisories: list[Advisory]

    @property
    def withdrawn(self) -> bool:
        return all(a.withdrawn for a in self.advisories)

    @property
    def kev(self) -> dict[str, str] | None:
        return next((a.kev for a in self.advisories if a.kev and not a.withdrawn), None)

    def affected(self) -> Iterable[Affected]:
        for advisory in self.advisories:
            if not advisory.withdrawn:
                yield from advisory.affected

    def text(self, what: str, lang: str) -> str:
        order = ("jvn", "nvd", "csaf", "kev") if lang == "ja" else ("nvd", "csaf", "kev", "jvn")
        for source in order:
            for advisory in self.advisories:
                value = getattr(advisory, what).get(lang) if advisory.source == source else None
                if value:
                    return str(value)
        return ""

    @property
    def cvss(self) -> dict[str, Any] | None:
        for source in ("nvd", "csaf", "jvn"):
            for advisory in self.advisories:
                if advisory.source == source and advisory.cvss:
                    return advisory.cvss
        return None

    @property
    def jvndb(self) -> list[str]:
        own = {self.id} if self.id.startswith("JVNDB") else set()
        return sorted({j for a in self.advisories for j in a.jvndb} | own)

    @property
    def published(self) -> str:
        return min((a.published for a in self.advisories if a.published), default="")

    @property
    def modified(self) -> str:
        return max((a.modified for a in self.advisories if a.modified), default="")


@dataclass(frozen=True)
class Asset:
    org: str
    id: str
    software: Software


@dataclass(frozen=True)
class Decision:
    """One thing to tell one member: a new notice, the same one escalated (KEV), or a revocation."""

    action: Literal["notify", "escalate", "revoke"]
    asset: Asset
    vulnerability: str
    basis: Basis
    kev: bool
    entry: Affected | None = None


@dataclass
class Catalogue:
    """Advisories and assets, indexed by (vendor, product), and what each member has been told."""

    aliases: Aliases = field(default_factory=Aliases)
    advisories: dict[str, Advisory] = field(default_factory=dict)
    by_vulnerability: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    vulnerabilities_of: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    assets: dict[tuple[str, str], Asset] = field(default_factory=dict)
    assets_of: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    # (org, asset id, vulnerability) -> (basis, kev) of the notice the member holds now, and two indexes of it
    told: dict[tuple[str, str, str], tuple[str, bool]] = field(default_factory=dict)
    told_of_vulnerability: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    told_of_asset: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    _views: dict[str, tuple[View, dict[tuple[str, str], list[Affected]]]] = field(default_factory=dict)

    def view(self, vulnerability: str) -> View | None:
        found = self._view(vulnerability)
        return found[0] if found else None

    def _view(self, vulnerability: str) -> tuple[View, dict[tuple[str, str], list[Affected]]] | None:
        """The view and its entries by product, kept until an advisory of the vulnerability changes."""
        if vulnerability not in self._views:
            keys = self.by_vulnerability.get(vulnerability)
            if not keys:
                return None
            if len(self._views) >= VIEW_CACHE:
                self._views.clear()  # bounded: a full catalogue's views would double its memory
            view = View(vulnerability, [self.advisories[k] for k in sorted(keys)])
            self._views[vulnerability] = (view, self._entries(view))
        return self._views[vulnerability]

    def remember(self, org: str, asset: str, vulnerability: str, held: tuple[str, bool] | None) -> None:
        """Record what a member holds (None: nothing); also how the match log is read back at start-up."""
        key = (org, asset, vulnerability)
        if held is None:
            self.told.pop(key, None)
            self.told_of_vulnerability[vulnerability].discard((org, asset))
            self.told_of_asset[(org, asset)].discard(vulnerability)
        else:
            self.told[key] = held
            self.told_of_vulnerability[vulnerability].add((org, asset))
            self.told_of_asset[(org, asset)].add(vulnerability)

    # --- advisories -----------------------------------------------------------------------

    def put_advisory(self, advisory: Advisory) -> list[Decision]:
        """A new or changed advisory (a withdrawn one included): what to send because of it."""
        old = self.advisories.get(advisory.key)
        touched = set(advisory.vulnerabilities()) | (set(old.vulnerabilities()) if old else set())
        for vulnerability in touched:
            self._views.pop(vulnerability, None)
        if old is not None:
            for vulnerability in old.vulnerabilities():
                self.by_vulnerability[vulnerability].discard(old.key)
        self.advisories[advisory.key] = advisory
        for vulnerability in advisory.vulnerabilities():
            self.by_vulnerability[vulnerability].add(advisory.key)
            for entry in advisory.affected:
                self.vulnerabilities_of[self.aliases.key(entry.vendor, entry.product)].add(vulnerability)
        return [d for v in sorted(touched) for d in self._settle(v)]

    def drop_advisory(self, key: str) -> list[Decision]:
        """An advisory deleted at its source (a tombstone on kizuna.vulns)."""
        old = self.advisories.pop(key, None)
        if old is None:
            return []
        for vulnerability in old.vulnerabilities():
            self.by_vulnerability[vulnerability].discard(key)
            self._views.pop(vulnerability, None)
        return [d for v in old.vulnerabilities() for d in self._settle(v)]

    def _entries(self, view: View) -> dict[tuple[str, str], list[Affected]]:
        """The view's affected entries by (vendor, product) after the alias table, worked out once per view."""
        out: dict[tuple[str, str], list[Affected]] = defaultdict(list)
        if not view.withdrawn:
            for entry in view.affected():
                out[self.aliases.key(entry.vendor, entry.product)].append(entry)
        return out

    def _settle(self, vulnerability: str) -> list[Decision]:
        found = self._view(vulnerability)
        if found is None:
            return []
        view, entries = found
        candidates = set(self.told_of_vulnerability.get(vulnerability, ()))
        for product in entries:
            candidates |= self.assets_of.get(product, set())
        return [d for key in sorted(candidates) if key in self.assets
                for d in self._decide(self.assets[key], view, entries)]

    def _decide(self, asset: Asset, view: View | None,
                entries: dict[tuple[str, str], list[Affected]] | None = None) -> list[Decision]:
        if view is None:
            return []
        key = (asset.org, asset.id, view.id)
        entries = entries if entries is not None else self._entries(view)
        held = self.told.get(key)
        best: tuple[Basis, Affected] | None = None
        if not view.withdrawn:
            for entry in entries.get(self.aliases.key(asset.software.vendor, asset.software.product), ()):
                found = basis(asset.software, entry)
                if found is not None and (best is None or RANK[found] > RANK[best[0]]):
                    best = (found, entry)
        if best is None:
            if held is None:
                return []
            self.remember(*key, None)
            return [Decision("revoke", asset, view.id, held[0], held[1])]  # type: ignore[arg-type]
        kev = view.kev is not None
        if held == (best[0], kev):
            return []  # the member holds exactly this notice already
        self.remember(*key, (best[0], kev))
        escalated = held is not None and held[0] == best[0] and kev and not held[1]
        action: Literal["notify", "escalate"] = "escalate" if escalated else "notify"
        return [Decision(action, asset, view.id, best[0], kev, best[1])]

    # --- assets ---------------------------------------------------------------------------

    def index_asset(self, asset: Asset) -> bool:
        """Hold `asset` without deciding anything (start-up: the members already hold their notices)."""
        key = (asset.org, asset.id)
        if key in self.assets:
            return False
        self.assets[key] = asset
        self.assets_of[self.aliases.key(asset.software.vendor, asset.software.product)].add(key)
        return True

    def put_asset(self, asset: Asset) -> list[Decision]:
        """A member's new asset: matched at once against every advisory of its (vendor, product)."""
        if not self.index_asset(asset):
            return []
        product = self.aliases.key(asset.software.vendor, asset.software.product)
        decisions = []
        for vulnerability in sorted(self.vulnerabilities_of.get(product, ())):
            found = self._view(vulnerability)
            if found is not None:
                decisions += self._decide(asset, *found)
        return decisions

    def drop_asset(self, org: str, asset_id: str) -> list[Decision]:
        """A removed asset: every notice about it is revoked."""
        asset = self.assets.pop((org, asset_id), None)
        if asset is None:
            return []
        self.assets_of[self.aliases.key(asset.software.vendor, asset.software.product)].discard((org, asset_id))
        decisions = []
        for vulnerability in sorted(self.told_of_asset.pop((org, asset_id), set())):
            held, kev = self.told.pop((org, asset_id, vulnerability))
            self.told_of_vulnerability[vulnerability].discard((org, asset_id))
            decisions.append(Decision("revoke", asset, vulnerability, held, kev))  # type: ignore[arg-type]
        return decisions
