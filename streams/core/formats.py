"""One intake: recognise the format of a submission and parse it within the configured limits."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from streams.core.csv_in import KIND_COLUMNS, VALUE_COLUMNS, header_line, parse_csv
from streams.core.items import Parsed, Problem, Reason
from streams.core.misp_in import parse_misp
from streams.core.stix_in import parse_stix
from streams.core.text_in import parse_text
from streams.core.withdrawal_in import parse_withdrawal

FORMATS = ("auto", "stix", "misp", "csv", "text", "withdrawal")  # a withdrawal is never detected: it is asked for


@dataclass(frozen=True, slots=True)
class Limits:
    """What one submission may hold, and what the operator does not share (settings: KIZUNA_MAX_*,
    KIZUNA_DROP_TYPES)."""

    max_bytes: int
    max_objects: int
    max_depth: int
    max_object_bytes: int = 1024 * 1024
    drop_types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """From streams.settings.Settings (duck-typed: core code does not read settings itself)."""
        return cls(settings.max_submission_bytes, settings.max_objects, settings.max_json_depth,
                   settings.max_object_bytes, frozenset(t for t in settings.drop_types.split(",") if t))


def json_depth(document: Any, limit: int) -> int:
    """Nesting depth, counted without recursion; stops counting past `limit`."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return deepest


def detect(text: str, filename: str | None) -> str:
    """auto -> stix | misp | csv | text, from the content first and the file name second."""
    head = text.lstrip()[:4096]
    if head.startswith(("{", "[")):
        if '"Event"' in head or '"response"' in head:
            return "misp"
        return "stix"
    first_line = header_line(head)[1].lower()
    columns = {c.strip().strip('"') for c in re.split(r"[,;\t]", first_line)} if re.search(r"[,;\t]", first_line) \
        else set()
    if (filename or "").lower().endswith(".csv") or columns & {*VALUE_COLUMNS, *KIND_COLUMNS}:
        return "csv"
    return "text"


def _count_objects(document: Any) -> int:
    if isinstance(document, dict):
        for key in ("objects", "response"):
            if isinstance(document.get(key), list):
                return len(document[key])
        event = document.get("Event")
        if isinstance(event, dict):
            return len(event.get("Attribute") or []) + len(event.get("Object") or [])
    return len(document) if isinstance(document, list) else 1


def parse_submission(payload: bytes, fmt: str, filename: str | None, limits: Limits) -> Parsed:
    """Bytes as submitted -> items and problems. Never raises on bad input."""
    where = filename or "submission"
    if len(payload) > limits.max_bytes:
        return _fail(fmt, where, Reason.TOO_LARGE, f"{len(payload)} bytes, the limit is {limits.max_bytes}")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _fail(fmt, where, Reason.NOT_UTF8, f"not UTF-8 text at byte {exc.start}")
    if not text.strip():
        return _fail(fmt, where, Reason.EMPTY, "the submission is empty")
    if fmt == "auto":
        fmt = detect(text, filename)
    if fmt not in FORMATS:
        return _fail(fmt, where, Reason.UNKNOWN_FORMAT, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return parse_csv(text, limits.max_objects)
    if fmt == "text":
        return parse_text(text, limits.max_objects)
    if fmt == "withdrawal":
        return parse_withdrawal(text, limits.max_objects)
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _fail(fmt, where, Reason.MALFORMED, f"not valid JSON: {exc}")
    if json_depth(document, limits.max_depth) > limits.max_depth:
        return _fail(fmt, where, Reason.TOO_DEEP, f"JSON nested deeper than {limits.max_depth} levels")
    count = _count_objects(document)
    if count > limits.max_objects:
        return _fail(fmt, where, Reason.TOO_MANY, f"{count} objects, the limit is {limits.max_objects}")
    parsed = parse_stix(document, limits.drop_types) if fmt == "stix" else parse_misp(document, drop=limits.drop_types)
    _size_limit(parsed, limits.max_object_bytes)
    return parsed


def _size_limit(parsed: Parsed, limit: int) -> None:
    """Objects over the per-object limit are rejected, the rest carried."""
    kept = []
    for item in parsed.items:
        size = len(orjson.dumps(item.body)) if item.body is not None else len(item.pattern or item.value or "")
        if size > limit:
            parsed.problems.append(Problem(item.where, Reason.TOO_LARGE, f"the object is {size} bytes as JSON, the "
                                           f"limit is {limit} (KIZUNA_MAX_OBJECT_BYTES)"))
        else:
            kept.append(item)
    parsed.items = kept


def _fail(fmt: str, where: str, code: str, reason: str) -> Parsed:
    return Parsed(fmt, problems=[Problem(where, code, reason)])
