"""Software names and vulnerability advisories, as the match agent and the connectors share them.

Pure: no Kafka, no I/O. A member's asset and an advisory's affected entry both come down to
(vendor, product) in CPE's lower-case, underscore form, plus a version (exact, a range or
free text). CPE 2.3 formatted strings, CPE 2.2 URIs (JVN uses them) and purls are parsed here;
nothing compares versions as strings (see streams.core.vuln_match).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

from packageurl import PackageURL

WILDCARDS = {"*", "-", ""}  # CPE ANY and NA, and an empty field: no value to match on
_NAME = re.compile(r"[^a-z0-9._\-~+!@#$%&()]+")


class BadSoftware(ValueError):
    """A software name that cannot be registered or matched (the message says why, without the value)."""


def norm(text: str) -> str:
    """CPE's form of a vendor or product name: lower case, runs of spaces as one underscore."""
    return _NAME.sub("_", text.strip().lower()).strip("_")


@dataclass(frozen=True)
class Software:
    """One named piece of software: a member's asset, or the subject of an advisory's entry."""

    vendor: str
    product: str
    version: str = "*"
    update: str = "*"
    part: str = "a"
    ecosystem: str = ""  # purl type (pypi, npm, maven ...) when named by a purl: picks the version scheme
    source: str = ""  # the name as given (CPE or purl), shown back to its owner only

    @property
    def wildcard_version(self) -> bool:
        return self.version in WILDCARDS

    def cpe23(self) -> str:
        fields = [self.part, self.vendor, self.product, self.version or "*", self.update or "*"]
        return "cpe:2.3:" + ":".join(_escape(f) for f in fields) + ":*:*:*:*:*:*"


def _escape(value: str) -> str:
    return value if value in WILDCARDS else re.sub(r"([^A-Za-z0-9._\-])", r"\\\1", value)


def _split23(text: str) -> list[str]:
    """Fields of a CPE 2.3 formatted string, split on unescaped colons and unescaped."""
    out, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out


def parse_cpe(text: str) -> Software:
    """A CPE 2.3 formatted string (cpe:2.3:a:vendor:product:version:update:...) or a CPE 2.2 URI
    (cpe:/a:vendor:product:version:update); raises BadSoftware."""
    text = text.strip()
    if text.startswith("cpe:2.3:"):
        fields = _split23(text)[2:]
        if len(fields) != 11:
            raise BadSoftware("a CPE 2.3 name has 13 colon-separated fields")
    elif text.lower().startswith("cpe:/"):
        fields = [unquote(f) for f in text[5:].split(":")]
        if len(fields) < 2:
            raise BadSoftware("a CPE 2.2 URI needs at least part, vendor and product")
        fields += [""] * (11 - len(fields))  # a packed edition (~a~b~c~d~e) is in a field not matched on
    else:
        raise BadSoftware("not a CPE name (cpe:2.3:... or cpe:/...)")
    part, vendor, product, version, update = (fields + [""] * 5)[:5]
    if part.lower() not in {"a", "o", "h"}:
        raise BadSoftware("CPE part must be a (application), o (operating system) or h (hardware)")
    named = [norm(name) if name not in WILDCARDS else "*" for name in (vendor, product)]
    return Software(named[0], named[1], version.strip().lower() or "*", update.strip().lower() or "*",
                    part.lower(), "", text)


def parse_purl(text: str) -> Software:
    """A package URL: the namespace (or the type for flat registries) stands for the vendor."""
    try:
        purl = PackageURL.from_string(text.strip())
    except ValueError as exc:
        raise BadSoftware(f"not a package URL: {exc}") from None
    vendor = purl.namespace.split("/")[-1] if purl.namespace else purl.name
    return Software(norm(vendor), norm(purl.name), (purl.version or "*").lower(), "*", "a", purl.type, text.strip())


def parse_software(text: str = "", vendor: str = "", product: str = "", version: str = "") -> Software:
    """An asset as a member gives it: a CPE, a purl, or vendor/product/version; raises BadSoftware.
    Wildcard vendors and products are refused: they would match hundreds of products."""
    if text:
        software = parse_purl(text) if text.strip().startswith("pkg:") else parse_cpe(text)
    elif vendor and product:
        software = Software(norm(vendor), norm(product), (version.strip().lower() or "*"), source=f"{vendor}/{product}"
                            + (f"/{version}" if version else ""))
    else:
        raise BadSoftware("give a CPE, a purl, or both vendor and product")
    return checked(software)


def checked(software: Software) -> Software:
    """`software` if it can be an asset: vendor and product named (the hub checks what members send too)."""
    if software.vendor in WILDCARDS or software.product in WILDCARDS:
        raise BadSoftware("vendor and product must be named, not wildcards")
    return software


def asset_id(org: str, software: Software) -> str:
    """Deterministic id of one member's asset: the same name registered twice is one asset."""
    key = "|".join([org, software.part, software.vendor, software.product, software.version, software.update,
                     software.ecosystem])
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class Affected:
    """What an advisory says is affected: one product with an exact version, a range, or free text.

    `version` is exact ("*" when the entry has a range, or none); `start`/`end` bound a range
    (NVD's versionStart/End Including/Excluding, CSAF's vers:); `text` is a version statement
    no library can compare (JVN: "v6 R4 およびそれ以前"): such an entry matches on the product
    only, and says so."""

    vendor: str
    product: str
    version: str = "*"
    update: str = "*"
    start: str = ""
    start_incl: bool = True
    end: str = ""
    end_incl: bool = False
    text: str = ""
    part: str = "a"
    ecosystem: str = ""

    @property
    def has_range(self) -> bool:
        return bool(self.start or self.end)


@dataclass
class Advisory:
    """One source's record of one vulnerability (or, for JVN and CSAF, of several CVEs at once).

    Keyed on kizuna.vulns by `key` (source:id), so a newer version of the same record replaces it."""

    source: str  # nvd | jvn | kev | csaf
    id: str  # CVE-..., JVNDB-..., the CSAF tracking id
    cves: list[str] = field(default_factory=list)
    jvndb: list[str] = field(default_factory=list)
    title: dict[str, str] = field(default_factory=dict)  # lang -> text
    description: dict[str, str] = field(default_factory=dict)
    cvss: dict[str, Any] | None = None  # version, score, vector, severity
    published: str = ""
    modified: str = ""
    affected: list[Affected] = field(default_factory=list)
    kev: dict[str, str] | None = None  # date_added, due_date, required_action, ransomware
    references: list[str] = field(default_factory=list)
    withdrawn: bool = False

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"

    def vulnerabilities(self) -> list[str]:
        """The vulnerabilities this record speaks of: its CVEs, else its own id."""
        return self.cves or [self.id]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advisory:
        return cls(**{**data, "affected": [Affected(**a) for a in data.get("affected", [])]})
