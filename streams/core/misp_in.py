"""MISP events in: attributes (also inside MISP objects) become indicators; `tlp:` tags set the level."""
from __future__ import annotations

from typing import Any

from streams.core.items import Parsed, Problem, Reason, simple_indicator
from streams.tlp import TLP, most_restrictive, parse_level

# MISP attribute type -> indicator kind. Composite types list one kind per part; None skips a part.
ATTRIBUTE_KINDS: dict[str, tuple[str | None, ...]] = {
    "ip-src": ("ipv4-addr",), "ip-dst": ("ipv4-addr",),
    "ip-src|port": ("ipv4-addr", None), "ip-dst|port": ("ipv4-addr", None),
    "domain": ("domain-name",), "hostname": ("domain-name",),
    "domain|ip": ("domain-name", "ipv4-addr"), "hostname|port": ("domain-name", None),
    "url": ("url",), "uri": ("url",),
    "md5": ("file-md5",), "sha1": ("file-sha1",), "sha256": ("file-sha256",), "sha512": ("file-sha512",),
    "filename|md5": (None, "file-md5"), "filename|sha1": (None, "file-sha1"),
    "filename|sha256": (None, "file-sha256"), "filename|sha512": (None, "file-sha512"),
    "email": ("email-addr",), "email-src": ("email-addr",), "email-dst": ("email-addr",),
}


def _tag_levels(container: dict[str, Any]) -> list[TLP]:
    levels = []
    for tag in container.get("Tag") or []:
        name = tag.get("name") if isinstance(tag, dict) else None
        if isinstance(name, str) and name.lower().startswith("tlp:"):
            level = parse_level(name)
            if level is not None:
                levels.append(level)
    return levels


def _events(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("response"), list):
        return document["response"]
    if isinstance(document, list):
        return document
    return [document]


def _attributes(event: dict[str, Any]) -> list[tuple[dict[str, Any], list[TLP]]]:
    found = [(a, []) for a in event.get("Attribute") or []]
    for obj in event.get("Object") or []:
        if isinstance(obj, dict):
            levels = _tag_levels(obj)
            found += [(a, levels) for a in obj.get("Attribute") or []]
    return found


def parse_misp(document: Any) -> Parsed:
    parsed = Parsed("misp")
    for index, wrapper in enumerate(_events(document)):
        event = wrapper.get("Event") if isinstance(wrapper, dict) else None
        where_event = f"event {event.get('uuid', index)}" if isinstance(event, dict) else f"events[{index}]"
        if not isinstance(event, dict):
            parsed.problems.append(Problem(where_event, Reason.MALFORMED, "expected {\"Event\": {...}}"))
            continue
        event_levels = _tag_levels(event)
        attributes = _attributes(event)
        if not attributes:
            parsed.problems.append(Problem(where_event, Reason.EMPTY, "the event has no attributes"))
        for attribute, object_levels in attributes:
            if not isinstance(attribute, dict):
                parsed.problems.append(Problem(where_event, Reason.MALFORMED, "an attribute is not a JSON object"))
                continue
            where = f"attribute {attribute.get('uuid') or attribute.get('id') or '?'}"
            _attribute(parsed, attribute, where, event_levels + object_levels)
    return parsed


def _attribute(parsed: Parsed, attribute: dict[str, Any], where: str, inherited: list[TLP]) -> None:
    misp_type, value = attribute.get("type"), attribute.get("value")
    kinds = ATTRIBUTE_KINDS.get(misp_type) if isinstance(misp_type, str) else None
    if kinds is None:
        parsed.problems.append(Problem(where, Reason.UNSUPPORTED_TYPE,
                                       f"MISP attribute type {misp_type!r} carries no indicator kizuna shares"))
        return
    if not isinstance(value, str):
        parsed.problems.append(Problem(where, Reason.INVALID_VALUE, "the attribute has no text value"))
        return
    parts = value.split("|") if len(kinds) > 1 else [value]
    if len(parts) != len(kinds):
        parsed.problems.append(Problem(where, Reason.INVALID_VALUE, f"{misp_type} expects {len(kinds)} parts separated by '|'"))
        return
    level = most_restrictive(inherited + _tag_levels(attribute))
    for kind, part in zip(kinds, parts):
        if kind is None:
            continue
        result = simple_indicator(kind, part, where, level)
        (parsed.problems if isinstance(result, Problem) else parsed.items).append(result)
