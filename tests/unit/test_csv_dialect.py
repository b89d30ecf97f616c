"""The CSV reader's dialect shortcut reads the rows csv.Sniffer's dialect reads, and splits the header.

`streams.core.csv_in._dialect` skips the sniffer (~300 µs a file) when the header has exactly one
delimiter and the sample has no quotes. For such files, generated at random with values that hold
the other delimiters, spaces and punctuation: the shortcut always splits by the header's delimiter,
and wherever the sniffer settles on the same delimiter both read the same rows. (Where the sniffer
settles on another one, on a few short lines or values full of other delimiters, it reads the header
as one column and the file is rejected: the shortcut reads it.)"""
from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.csv_in import DELIMITERS, _dialect, parse_csv, sections

HEADERS = ["type", "value", "comment", "first_seen", "url", "dst_ip", "tags", "ioc"]
CELL = st.text(alphabet=st.sampled_from(list("abcxyz019.-/:_@ []()=#") + [";", "|", "\t", ","]), max_size=20)


def _rows(text: str, dialect: type[csv.Dialect] | csv.Dialect) -> list[list[str]]:
    _, header_text, body = sections(text)
    return [next(csv.reader([header_text], dialect)), *csv.reader(io.StringIO(body), dialect)]


def _sniffed(text: str) -> type[csv.Dialect] | csv.Dialect:
    _, header_text, body = sections(text)
    try:
        return csv.Sniffer().sniff(header_text + "\n" + body[:4096], delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel


@settings(max_examples=400, deadline=None)
@given(delimiter=st.sampled_from(DELIMITERS), header=st.lists(st.sampled_from(HEADERS), min_size=2, max_size=5,
                                                               unique=True),
       rows=st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=30))
def test_the_shortcut_reads_what_the_sniffer_reads(delimiter: str, header: list[str], rows: list[list[str]]) -> None:
    cells = [[cell.replace(delimiter, "") for cell in row][:len(header)] for row in rows]
    text = "\n".join([delimiter.join(header), *(delimiter.join(row) for row in cells)])
    chosen = _dialect(*sections(text)[1:])
    if chosen.__name__.startswith("_Plain"):
        assert chosen.delimiter == delimiter
        sniffed = _sniffed(text)
        if sniffed.delimiter == delimiter:
            assert _rows(text, chosen) == _rows(text, sniffed)


def test_quotes_and_ambiguous_headers_are_still_sniffed() -> None:
    assert _dialect('"type","value"', '"url","http://a.example/"').__name__ == "dialect"  # the sniffer's class
    assert _dialect("type, value", "url, http://a.example/").__name__ == "dialect"
    assert _dialect("type;value,comment", "url;http://a.example/,x").__name__ == "dialect"
    assert _dialect("type,value", "url,http://a.example/").__name__.startswith("_Plain")


def test_a_semicolon_file_is_read_by_its_header() -> None:
    parsed = parse_csv("type;value\nurl;http://evil.example/a,b\nipv4-addr;45.77.65.211\n", 100)
    assert [item.value for item in parsed.items] == ["http://evil.example/a,b", "45.77.65.211"]
