"""Canonical indicator values and their deterministic STIX ids.

The same indicator, however it was written (defanged, upper-case, IDN, long
IPv6, CIDR /32), gets the same canonical value and so the same STIX id.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import idna
from publicsuffixlist import PublicSuffixList

# Namespace of kizuna's deterministic ids (uuid5 over "kind|canonical value").
ID_NAMESPACE = uuid.UUID("5e0b7d1c-4a0b-5d4e-9a1f-6b697a756e61")

# Observable kinds and the STIX pattern path each one is matched on.
PATTERN_PATHS: dict[str, str] = {
    "ipv4-addr": "ipv4-addr:value",
    "ipv6-addr": "ipv6-addr:value",
    "domain-name": "domain-name:value",
    "url": "url:value",
    "email-addr": "email-addr:value",
    "file-md5": "file:hashes.MD5",
    "file-sha1": "file:hashes.'SHA-1'",
    "file-sha256": "file:hashes.'SHA-256'",
    "file-sha512": "file:hashes.'SHA-512'",
}
HASH_KINDS_BY_LENGTH = {32: "file-md5", 40: "file-sha1", 64: "file-sha256", 128: "file-sha512"}
# Reserved for documentation and testing (RFC 2606 / 6761): accepted so that demos work.
DOCUMENTATION_TLDS = frozenset({"example", "test"})
# Schemes that name no network location (a mailto: or data: "URL" is no place to block).
NON_NETWORK_SCHEMES = frozenset({"mailto", "data", "javascript", "about", "blob", "urn", "tel", "news"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")
_OPAQUE = re.compile(r"^[a-z][a-z0-9+.-]{0,31}:(?!\d)", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "smb": 445, "ssh": 22}

_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_DEFANG = (
    (re.compile(r"^h[xX]{2}p(s?)", re.I), r"http\1"),
    (re.compile(r"^f[xX]p", re.I), "ftp"),
    (re.compile(r"\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}", re.I), "."),
    (re.compile(r"\[\s*:\s*\]"), ":"),
    (re.compile(r"\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)", re.I), "@"),
    (re.compile(r"\[\s*/\s*\]"), "/"),
)


class InvalidValue(ValueError):
    """A value that is not what its type says; the message says why, for a person to act on."""


_psl = PublicSuffixList(accept_unknown=False)


_DEFANG_HINTS = re.compile(r"[\[\](){}]|^h[xX]|^f[xX]", re.I)
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_ASCII_NAME = re.compile(r"^[a-z0-9_.-]+$")


def refang(text: str) -> str:
    """Undo common defanging: hxxp, [.], (dot), [:], [@]."""
    text = text.strip()
    if not _DEFANG_HINTS.search(text):
        return text
    for pattern, replacement in _DEFANG:
        text = pattern.sub(replacement, text)
    return text


def _uuid5(name: str) -> str:
    """uuid.uuid5(ID_NAMESPACE, name) as a string, without the UUID object (4x faster on the hot path)."""
    digest = bytearray(hashlib.sha1(ID_NAMESPACE.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def indicator_id(kind: str, value: str) -> str:
    return f"indicator--{_uuid5(kind + '|' + value)}"


def object_id(stix_type: str, key: str) -> str:
    """Deterministic id of a non-indicator object from its natural key (name, external id ...)."""
    return f"{stix_type}--{_uuid5(stix_type + '|' + key)}"


def pattern_for(kind: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{PATTERN_PATHS[kind]} = '{escaped}']"


def canonical_ip(value: str) -> tuple[str, str]:
    """IPv4/IPv6 address or CIDR -> (kind, canonical); a host-length prefix becomes the address."""
    text = refang(value)
    if _IPV4.match(text):  # the common case, without building ipaddress objects
        return "ipv4-addr", text
    try:
        net = ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(f"{value!r} is not an IP address or CIDR range") from None
    if isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        if net.prefixlen == net.max_prefixlen:
            net = net.network_address
        elif net.prefixlen == 0:
            raise InvalidValue(f"{value!r} covers the whole address space")
    kind = "ipv4-addr" if net.version == 4 else "ipv6-addr"
    return kind, str(net)


@lru_cache(maxsize=65536)
def canonical_domain(value: str) -> str:
    """Lower-case, IDNA (punycode), no trailing dot, under a known public suffix."""
    text = refang(value).rstrip(".").lower()
    if not text or len(text) > 253 or "." not in text:
        raise InvalidValue(f"{value!r} is not a domain name (needs at least two labels)")
    try:
        # Plain ASCII names need no IDNA mapping; xn-- labels still go through it to be checked.
        if _ASCII_NAME.match(text) and "xn--" not in text:
            ascii_name = text
        else:
            ascii_name = idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError as exc:
        # Underscores are legal in DNS names (SRV, DKIM) but not in IDNA: accept plain ASCII names.
        if text.isascii() and all(_LABEL.match(label) for label in text.split(".")):
            ascii_name = text
        else:
            raise InvalidValue(f"{value!r} is not a valid domain name ({exc})") from None
    labels = ascii_name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise InvalidValue(f"{value!r} is not a valid domain name")
    if labels[-1].isdigit():
        raise InvalidValue(f"{value!r} looks like an IP address, not a domain name")
    if labels[-1] not in DOCUMENTATION_TLDS:
        if _psl.publicsuffix(ascii_name) is None:
            raise InvalidValue(f"{value!r} is not under a public top-level domain")
        if _psl.privatesuffix(ascii_name) is None:
            raise InvalidValue(f"{value!r} is a public suffix, not a registrable domain")
    return ascii_name


def canonical_host(host: str) -> str:
    try:
        kind, ip = canonical_ip(host.strip("[]"))
        return f"[{ip}]" if kind == "ipv6-addr" else ip
    except InvalidValue:
        return canonical_domain(host)


def canonical_url(value: str) -> str:
    """Scheme and host lower-cased and canonical, default port and fragment dropped."""
    text = refang(value)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidValue(f"{value!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    # Any scheme with a network location: attackers use smb://, tcp://, udp://, ws:// as much as http://.
    if not _SCHEME.match(scheme) or scheme in NON_NETWORK_SCHEMES or "//" not in text[:len(scheme) + 3]:
        raise InvalidValue(f"{value!r} is not a URL with a network scheme (http, https, ftp, smb, tcp ...)")
    if not parts.hostname:
        raise InvalidValue(f"{value!r} has no host")
    host = canonical_host(parts.hostname)
    default = DEFAULT_PORTS.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def canonical_email(value: str) -> str:
    text = refang(value).lower()
    if not _EMAIL.match(text):
        raise InvalidValue(f"{value!r} is not an e-mail address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{canonical_domain(domain)}"


def canonical_hash(kind: str, value: str) -> str:
    text = value.strip().lower()
    expected = {v: k for k, v in HASH_KINDS_BY_LENGTH.items()}[kind]
    if len(text) != expected or not _HEX.match(text):
        raise InvalidValue(f"{value!r} is not a {kind.split('-')[1].upper()} hash ({expected} hex digits)")
    return text


def _schemeless_url(value: str) -> tuple[str, str]:
    """A URL written without its scheme, as feeds and MISP events often do: a bare host is that host
    (a domain or address indicator), a host with a path is taken as http://."""
    text = refang(value).strip()
    if _OPAQUE.match(text):  # mailto:, javascript: ...: a scheme, but no network location
        return "url", canonical_url(text)
    if "/" not in text and ":" not in text.strip("[]"):
        kind = "domain-name" if classify(text) == "domain-name" else "ipv4-addr"
        return canonicalize(kind, text)
    return "url", canonical_url("http://" + text)


def canonicalize(kind: str, value: str) -> tuple[str, str]:
    """(kind, raw value) -> (kind, canonical value); kind may change (an ipv4-addr that is IPv6)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("the value is empty")
    if len(value) > 8192:
        raise InvalidValue(f"the value is {len(value)} characters long (limit 8192)")
    if kind in ("ipv4-addr", "ipv6-addr"):
        return canonical_ip(value)
    if kind == "domain-name":
        return kind, canonical_domain(value)
    if kind == "url":
        return _schemeless_url(value) if "://" not in refang(value) else (kind, canonical_url(value))
    if kind == "email-addr":
        return kind, canonical_email(value)
    if kind in PATTERN_PATHS:
        return kind, canonical_hash(kind, value)
    raise InvalidValue(f"unknown indicator type {kind!r}")


def classify(value: str) -> str | None:
    """Best guess of the kind of a bare value (CSV without a type column, report text)."""
    text = refang(value)
    lowered = text.lower()
    if len(lowered) in HASH_KINDS_BY_LENGTH and _HEX.match(lowered):
        return HASH_KINDS_BY_LENGTH[len(lowered)]
    if "://" in text:
        return "url"
    if "@" in text:
        return "email-addr"
    try:
        return canonical_ip(text)[0]
    except InvalidValue:
        pass
    if "." in text and not any(c.isspace() for c in text):
        return "domain-name"
    return None
