"""CSV with a header in: a value column, optionally type and tlp columns."""
from __future__ import annotations

import csv
import io

from streams.core import canonical
from streams.core.items import Parsed, Problem, Reason, simple_indicator
from streams.core.misp_in import ATTRIBUTE_KINDS
from streams.tlp import parse_level

VALUE_COLUMNS = ("value", "indicator", "ioc", "observable")
TYPE_COLUMNS = ("type", "kind", "indicator_type", "ioc_type")
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


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def parse_csv(text: str, max_rows: int) -> Parsed:
    parsed = Parsed("csv")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        parsed.problems.append(Problem("line 1", Reason.EMPTY, "the CSV has no header"))
        return parsed
    value_col = _column(header, VALUE_COLUMNS)
    if value_col is None:
        parsed.problems.append(Problem("line 1", Reason.MALFORMED,
                                       f"the header needs a value column (one of {', '.join(VALUE_COLUMNS)})"))
        return parsed
    type_col, tlp_col = _column(header, TYPE_COLUMNS), _column(header, ("tlp",))
    count = 0
    try:
        for row in rows:
            line = f"line {rows.line_num}"
            if not row or not any(cell.strip() for cell in row):
                continue
            count += 1
            if count > max_rows:
                parsed.problems.append(Problem(line, Reason.TOO_MANY, f"rows after the first {max_rows} were not read"))
                break
            _row(parsed, row, line, value_col, type_col, tlp_col)
    except csv.Error as exc:
        parsed.problems.append(Problem(f"line {rows.line_num}", Reason.MALFORMED, f"broken CSV: {exc}"))
    return parsed


def _row(parsed: Parsed, row: list[str], line: str, value_col: int, type_col: int | None, tlp_col: int | None) -> None:
    value = row[value_col] if value_col < len(row) else ""
    type_name = row[type_col] if type_col is not None and type_col < len(row) else ""
    kind = kind_from_name(type_name) if type_name.strip() else canonical.classify(value)
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
