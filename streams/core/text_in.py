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
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CONTACT_WORDS = re.compile(r"\b(?:contact|questions?|feedback|author|written by|reach (?:us|me)|e-?mail (?:us|me)"
                            r"|mailto:|send (?:us|me))\b", re.I)
_FILE_EXTENSIONS = frozenset({
    "py", "sh", "zip", "exe", "dll", "js", "vbs", "ps1", "bat", "cmd", "jar", "apk", "app", "rar", "7z", "doc",
    "docx", "docm", "xls", "xlsx", "xlsm", "pdf", "lnk", "iso", "img", "msi", "bin", "elf", "so", "dylib", "dmg",
    "pkg", "deb", "rpm", "tar", "gz", "tgz", "hta", "scr", "sys", "tmp", "dat", "ini", "cfg", "conf", "pl", "rb",
    "php", "asp", "aspx", "jsp", "wsf", "swf", "rtf", "ocx", "cpl", "drv", "vbe", "jse", "ko", "run", "plist",
})
_LINK_TEXT = re.compile(r"\[(?!\s*(?:\.|:|@|/|dot|at)\s*\])", re.I)
_DOMAIN_TOKEN = re.compile(r"(?<![\w@./\\-])((?:[a-z0-9_-]+(?:\.|\[\.\]|\(\.\)|\[dot\]))+[a-z][a-z0-9-]{1,62})"
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


def _contact_addresses(text: str) -> set[str]:
    """Addresses the report gives as its own: in an author line (`Name <address>`), or shortly after
    words such as "contact", "questions", "feedback", "author"."""
    found = set()
    for match in _ADDRESS.finditer(text):
        before = text[max(0, match.start() - 120):match.start()]
        if _CONTACT_WORDS.search(before) or before.rstrip().endswith("<"):
            found.add(match.group().lower())
    return found


def _file_name(token: str) -> bool:
    """A token written plainly (not defanged) that ends in an executable, script or archive extension
    is a file name (`run.sh`, `secretsdump.py`, `security.zip`), even where that is also a TLD."""
    return token.rsplit(".", 1)[-1].lower() in _FILE_EXTENSIONS and canonical.refang(token) == token


def _markup_trimmed(raw: str) -> str:
    """A URL without the markup written around it: AsciiDoc link text (`https://x.example[label]`) and
    passthrough marks (`++`), Markdown emphasis and code ticks; a defanged `[.]` stays."""
    match = _LINK_TEXT.search(raw)
    return (raw[:match.start()] if match else raw).rstrip("`+*_")


def parse_text(text: str, max_items: int) -> Parsed:
    parsed = Parsed("text")
    found: list[tuple[str, str, str]] = []  # (kind or "", raw, where)
    consumed: list[str] = []
    for raw in map(_markup_trimmed, iocextract.extract_urls(text, refang=False)):
        if _HAS_SCHEME.match(raw):
            found.append(("url", iocextract.refang_data(raw), raw))
            consumed.append(raw)
        elif canonical.classify(raw) in ("ipv4-addr", "ipv6-addr"):  # "1.2.3[.]4": iocextract's IP finder misses it
            found.append(("", raw, raw))
    contacts, told = _contact_addresses(text), set()
    for found_raw in iocextract.extract_emails(text, refang=False):
        # iocextract reads " at " as a defanged "@" and takes the word before an address along ("to a@b.c")
        raw = found_raw.split()[-1] if found_raw.split() else ""
        if "@" not in raw and "[@]" not in raw:
            continue
        consumed.append(raw)
        if raw.lower() not in contacts:
            found.append(("email-addr", raw, raw))
        elif raw.lower() not in told:  # the publisher's own address: personal data, never quoted
            told.add(raw.lower())
            parsed.problems.append(Problem("text (a contact address of the report's authors)", Reason.PERSONAL_DATA,
                                           "the report's own contact or author address is not an indicator; "
                                           "it is left out as personal data / 報告者の連絡先は指標として扱いません"))
    for raw in iocextract.extract_ips(text, refang=False):
        found.append(("", raw, raw))
    for raw in iocextract.extract_hashes(text):
        found.append(("", raw, raw))
    rest = text
    for raw in consumed:
        rest = rest.replace(raw, " ")
    for match in _DOMAIN_TOKEN.finditer(rest):
        token = match.group(1)
        if canonical.classify(token) == "domain-name" and not _file_name(token):
            found.append(("domain-name", token, token))
    seen: set[str] = set()
    for kind, raw, shown in found:
        where = f"text {shown[:80]!r}"
        kind = kind or canonical.classify(raw) or ""
        if not kind:  # "17:36:10" looks like an IPv6 address to iocextract: prose, not a defect
            continue
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
