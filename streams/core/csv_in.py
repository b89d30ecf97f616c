"""CSV with a header in: a value column (or one named by its kind, as public feeds do), optionally
type, tlp and malware columns; `#` comment lines before the header, as abuse.ch feeds have them."""
from __future__ import annotations

import csv
import io
import re

from streams.core import canonical
from streams.core.items import Item, Parsed, Problem, Reason, simple_indicator
from streams.core.misp_in import ATTRIBUTE_KINDS
from streams.tlp import parse_level

VALUE_COLUMNS = ("value", "indicator", "ioc", "observable", "ioc_value")
TYPE_COLUMNS = ("type", "kind", "indicator_type", "ioc_type")
# Public feeds name the value column by its kind (URLhaus `url`, Feodo Tracker `dst_ip`, MalwareBazaar hashes).
KIND_COLUMNS = {"url": "url", "dst_ip": "ipv4-addr", "ip": "ipv4-addr", "ip_address": "ipv4-addr",
                "domain": "domain-name", "hostname": "domain-name", "sha256_hash": "file-sha256",
                "sha256": "file-sha256", "sha1_hash": "file-sha1", "sha1": "file-sha1", "md5_hash": "file-md5",
                "md5": "file-md5"}
# A malware family column: carried as a malware object the row's indicator `indicates`.
MALWARE_COLUMNS = ("malware", "malware_printable", "malware_family", "family", "signature")
# Type names people write in CSVs, beyond kizuna's own kinds and MISP's attribute types.
_TYPE_ALIASES = {
    "ip": "ipv4-addr", "ipv4": "ipv4-addr", "ipv6": "ipv6-addr", "ip-addr": "ipv4-addr",
    "domain-name": "domain-name", "fqdn": "domain-name", "email-addr": "email-addr",
    "sha-1": "file-sha1", "sha-256": "file-sha256", "sha-512": "file-sha512",
}


def kind_from_name(name: str) -> str | None:
    key = name.strip().lower()
    if key in canonical.PATTERN_PATHS:
        return key
    if key in _TYPE_ALIASES:
        return _TYPE_ALIASES[key]
    kinds = ATTRIBUTE_KINDS.get(key)
    return kinds[0] if kinds and len(kinds) == 1 else None


DELIMITERS = ",;\t|"  # the column separators a CSV submission may use
_SPLIT = re.compile(f"[{re.escape(DELIMITERS)}]")


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def header_line(text: str) -> tuple[int, str]:
    """(index, text) of the header line: the first line, or in a feed's layout the last `#` comment
    line before the data that names a value column (`# id,dateadded,url,...`)."""
    lines = text.split("\n", 200)[:200]
    first = 0
    while first < len(lines) and lines[first].lstrip().startswith("#"):
        first += 1
    for index in range(first - 1, -1, -1):
        names = {c.strip().strip('"').lower() for c in _SPLIT.split(lines[index].lstrip("# "))}
        if names & {*VALUE_COLUMNS, *KIND_COLUMNS}:
            return index, lines[index].lstrip("# ")
    return first, lines[first] if first < len(lines) else ""


class _Plain(csv.excel):
    """Excel's dialect with another delimiter."""


_PLAIN = {delimiter: type(f"_Plain{ord(delimiter)}", (_Plain,), {"delimiter": delimiter}) for delimiter in DELIMITERS}


def _dialect(header_text: str, body: str) -> type[csv.Dialect]:
    """The CSV dialect. A header with exactly one of the delimiters and no space after it, in a sample
    without quotes, is that delimiter in Excel's dialect: the rows are those csv.Sniffer's dialect gives
    (tests/unit/test_csv_dialect.py); anything else is sniffed. The sniffer costs ~300 µs a file
    whatever its size, most of the cost of a small submission."""
    sample = header_text + "\n" + body[:4096]
    found = [d for d in DELIMITERS if d in header_text]
    if len(found) == 1 and '"' not in sample and "'" not in sample and found[0] + " " not in header_text:
        return _PLAIN[found[0]]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel


def sections(text: str) -> tuple[int, str, str]:
    """(index of the header line, the header, the data lines without comments)."""
    start, header_text = header_line(text)
    body = "\n".join(line for line in text.split("\n")[start + 1:] if not line.lstrip().startswith("#"))
    return start, header_text, body


def parse_csv(text: str, max_rows: int) -> Parsed:
    parsed = Parsed("csv")
    start, header_text, body = sections(text)
    dialect = _dialect(header_text, body)
    try:
        header = next(csv.reader([header_text], dialect))
    except (StopIteration, csv.Error):
        parsed.problems.append(Problem(f"line {start + 1}", Reason.EMPTY, "the CSV has no header"))
        return parsed
    rows = csv.reader(io.StringIO(body), dialect)
    value_col = _column(header, VALUE_COLUMNS)
    column_kind = None
    if value_col is None:
        value_col = _column(header, tuple(KIND_COLUMNS))
        column_kind = KIND_COLUMNS[header[value_col].strip().lower()] if value_col is not None else None
    if value_col is None:
        parsed.problems.append(Problem(f"line {start + 1}", Reason.MALFORMED, "the header needs a value column (one of "
                                       f"{', '.join(VALUE_COLUMNS)}, or a kind such as url, dst_ip, sha256_hash)"))
        return parsed
    type_col, tlp_col = _column(header, TYPE_COLUMNS), _column(header, ("tlp",))
    malware_col = _column(header, MALWARE_COLUMNS)
    count = 0
    try:
        for row in rows:
            line = f"line {start + 1 + rows.line_num}"
            if not row or not any(cell.strip() for cell in row):
                continue
            count += 1
            if count > max_rows:
                parsed.problems.append(Problem(line, Reason.TOO_MANY, f"rows after the first {max_rows} were not read"))
                break
            _row(parsed, row, line, value_col, type_col, tlp_col, column_kind)
            if malware_col is not None and malware_col < len(row) and row[malware_col].strip():
                _malware(parsed, row[malware_col], line)
    except csv.Error as exc:
        parsed.problems.append(Problem(f"line {rows.line_num}", Reason.MALFORMED, f"broken CSV: {exc}"))
    return parsed


def _malware(parsed: Parsed, name: str, line: str) -> None:
    """The row's malware family as a malware object, and the row's indicator `indicates` it."""
    indicator = parsed.items[-1] if parsed.items and parsed.items[-1].where == line else None
    if indicator is None or name.strip().lower() in ("none", "n/a", "-", "unknown"):
        return
    family = " ".join(name.split())[:200]
    malware = Item(id=canonical.object_id("malware", "name:" + family.lower()), stix_type="malware", where=line,
                   tlp=indicator.tlp, body={"name": family, "is_family": True})
    relationship = Item(id=canonical.object_id("relationship", f"{indicator.id}|indicates|{malware.id}"),
                        stix_type="relationship", where=line, tlp=indicator.tlp,
                        body={"relationship_type": "indicates", "source_ref": indicator.id, "target_ref": malware.id})
    parsed.items += [malware, relationship]


def _row(parsed: Parsed, row: list[str], line: str, value_col: int, type_col: int | None, tlp_col: int | None,
         column_kind: str | None = None) -> None:
    value = row[value_col] if value_col < len(row) else ""
    type_name = row[type_col] if type_col is not None and type_col < len(row) else ""
    kind = kind_from_name(type_name) if type_name.strip() else column_kind or canonical.classify(value)
    if kind is None:
        what = (f"type {type_name.strip()!r} is not an indicator type" if type_name.strip()
                else f"cannot tell what {value[:100]!r} is")
        parsed.problems.append(Problem(line, Reason.UNSUPPORTED_TYPE if type_name.strip() else Reason.INVALID_VALUE,
                                       what))
        return
    level = None
    if tlp_col is not None and tlp_col < len(row) and row[tlp_col].strip():
        level = parse_level(row[tlp_col])
        if level is None:
            parsed.problems.append(Problem(line, Reason.NO_TLP, f"unknown TLP {row[tlp_col][:40]!r}"))
            return
    result = simple_indicator(kind, value, line, level)
    if isinstance(result, Problem):
        parsed.problems.append(result)
    else:
        parsed.items.append(result)
