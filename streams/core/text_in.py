"""Report text in: indicators extracted from prose, defanged or not (iocextract does the finding)."""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import iocextract

from streams.core import canonical
from streams.core.canonical import InvalidValue
from streams.core.items import Item, Parsed, Problem, Reason

# A scheme written out (plain or defanged) tells a URL from a bare domain that iocextract also reports.
_HAS_SCHEME = re.compile(r"^[a-z]{2,6}(?:\[?:\]?)?//|^h[xX]{2}ps?", re.I)
_DOMAIN_TOKEN = re.compile(r"(?<![\w@.-])((?:[a-z0-9_-]+(?:\.|\[\.\]|\(\.\)|\[dot\]))+[a-z][a-z0-9-]{1,62})"
                           r"(?![\w@-]|\.\w)", re.I)


def _not_shareable(kind: str, value: str) -> str | None:
    """Why an address, or a URL on an address, is not worth sharing (nobody else can reach it, or
    it is nobody's in particular: private, loopback, multicast ...), or None when it is."""
    if kind == "url":
        value = (urlsplit(value).hostname or "").strip("[]")  # canonical URLs bracket IPv6 hosts
    elif kind not in ("ipv4-addr", "ipv6-addr"):
        return None
    try:
        address = ipaddress.ip_network(value, strict=False)
    except ValueError:  # a URL on a domain name
        return None
    for scope in ("loopback", "link_local", "multicast", "unspecified"):
        if getattr(address, f"is_{scope}"):
            return f"a {scope.replace('_', '-')} address"
    return None if address.is_global else "a private or reserved address"


def parse_text(text: str, max_items: int) -> Parsed:
    parsed = Parsed("text")
    found: list[tuple[str, str, str]] = []  # (kind or "", raw, where)
    consumed: list[str] = []
    for raw in iocextract.extract_urls(text, refang=False):
        if _HAS_SCHEME.match(raw):
            found.append(("url", iocextract.refang_data(raw), raw))
            consumed.append(raw)
        elif canonical.classify(raw) in ("ipv4-addr", "ipv6-addr"):  # "1.2.3[.]4": iocextract's IP finder misses it
            found.append(("", raw, raw))
    for raw in iocextract.extract_emails(text, refang=False):
        if not any(c.isspace() for c in raw):  # iocextract reads " at " as a defanged "@"
            found.append(("email-addr", raw, raw))
            consumed.append(raw)
    for raw in iocextract.extract_ips(text, refang=False):
        found.append(("", raw, raw))
    for raw in iocextract.extract_hashes(text):
        found.append(("", raw, raw))
    rest = text
    for raw in consumed:
        rest = rest.replace(raw, " ")
    for match in _DOMAIN_TOKEN.finditer(rest):
        token = match.group(1)
        if canonical.classify(token) == "domain-name":
            found.append(("domain-name", token, token))
    seen: set[str] = set()
    for kind, raw, shown in found:
        where = f"text {shown[:80]!r}"
        kind = kind or canonical.classify(raw) or ""
        try:
            kind, value = canonical.canonicalize(kind, raw)
        except InvalidValue as exc:
            if kind != "domain-name":  # prose is full of dotted words that are not domains
                parsed.problems.append(Problem(where, Reason.INVALID_VALUE, str(exc)))
            continue
        item_id = canonical.indicator_id(kind, value)
        if item_id in seen:
            continue
        seen.add(item_id)
        if why := _not_shareable(kind, value):
            on = "is" if kind != "url" else "is on"
            parsed.problems.append(Problem(where, Reason.INVALID_VALUE, f"{value} {on} {why}, not an indicator"))
            continue
        if len(parsed.items) >= max_items:
            parsed.problems.append(Problem(where, Reason.TOO_MANY,
                                           f"indicators after the first {max_items} were not read"))
            break
        parsed.items.append(Item(id=item_id, stix_type="indicator", where=where, observable=kind, value=value))
    if not parsed.items and not parsed.problems:
        parsed.problems.append(Problem("text", Reason.EMPTY, "no indicators found in the text"))
    return parsed
