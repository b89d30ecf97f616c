"""STIX 2.1 bundles in: indicators with canonical ids, and the objects around them (R10)."""
from __future__ import annotations

import re
from typing import Any

from stix2patterns.validator import validate as validate_pattern

from streams.core import canonical
from streams.core.items import Item, Parsed, Problem, Reason, Sighting, simple_indicator
from streams.core.scrub import scrub
from streams.tlp import TLP, from_marking_ref, most_restrictive, parse_level

# [type:path = 'value'] — the common case, canonicalised without the full pattern parser.
_SIMPLE = re.compile(r"^\[\s*([a-z0-9-]+):([A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]$")
_PATH_KINDS = {
    ("ipv4-addr", "value"): "ipv4-addr",
    ("ipv6-addr", "value"): "ipv6-addr",
    ("domain-name", "value"): "domain-name",
    ("url", "value"): "url",
    ("email-addr", "value"): "email-addr",
}
_HASH_NAMES = {"md5": "file-md5", "sha1": "file-sha1", "sha-1": "file-sha1", "sha256": "file-sha256",
               "sha-256": "file-sha256", "sha512": "file-sha512", "sha-512": "file-sha512"}

# Properties never carried out of the hub: they name the provider or are replaced by the hub's own.
_HUB_OWNED = frozenset({"id", "type", "spec_version", "created", "modified", "created_by_ref",
                        "object_marking_refs", "granular_markings", "extensions", "revoked"})
# Object types that carry identity or are feedback, not shared content.
_WITHHELD = {"identity": "identity objects are not shared: they would name the provider or a victim"}
# Public knowledge bases whose external references are kept; others may be internal tickets.
_PUBLIC_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack", "capec", "cve", "cwe", "nvd"})
_SHAREABLE = frozenset({
    "attack-pattern", "campaign", "course-of-action", "grouping", "infrastructure", "intrusion-set",
    "location", "malware", "malware-analysis", "note", "opinion", "report", "threat-actor", "tool",
    "vulnerability", "relationship",
})


def _strings(value: Any) -> list[str]:
    """The strings of a list property; anything else (a bool, a dict ...) counts as none."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def simple_pattern(pattern: str) -> tuple[str, str] | None:
    """'[ipv4-addr:value = '1.2.3.4']' -> ('ipv4-addr', '1.2.3.4'); None if not that simple shape."""
    match = _SIMPLE.match(pattern.strip())
    if not match:
        return None
    obj, path, raw = match.groups()
    value = raw.replace("\\'", "'").replace("\\\\", "\\")
    kind = _PATH_KINDS.get((obj, path))
    if kind is None and obj == "file" and path.startswith("hashes."):
        kind = _HASH_NAMES.get(path[len("hashes."):].strip("'").lower())
    return (kind, value) if kind else None


def _marking_levels(obj: dict[str, Any], local: dict[str, TLP]) -> list[TLP]:
    refs = _strings(obj.get("object_marking_refs"))
    refs += [g["marking_ref"] for g in _dicts(obj.get("granular_markings")) if isinstance(g.get("marking_ref"), str)]
    levels = []
    for ref in refs:
        level = local.get(ref) or from_marking_ref(ref)
        if level is not None:
            levels.append(level)
    return levels


def _local_markings(objects: list[dict[str, Any]]) -> dict[str, TLP]:
    """TLP marking definitions declared inside the bundle (TLP 1.0 style or TLP 2.0 by name)."""
    found: dict[str, TLP] = {}
    for obj in objects:
        if obj.get("type") != "marking-definition" or not isinstance(obj.get("id"), str):
            continue
        level = from_marking_ref(obj["id"])
        definition = obj.get("definition")
        if level is None and isinstance(definition, dict) and isinstance(definition.get("tlp"), str):
            level = parse_level(definition["tlp"])
        if level is None and isinstance(obj.get("name"), str):
            level = parse_level(obj["name"])
        if level is not None:
            found[obj["id"]] = level
    return found


def _indicator(obj: dict[str, Any], where: str) -> Item | Problem:
    pattern = obj.get("pattern")
    pattern_type = obj.get("pattern_type", "stix")
    if pattern_type != "stix":
        return Problem(where, Reason.UNSUPPORTED_PATTERN_TYPE,
                       f"pattern_type {pattern_type!r} is not supported; only STIX patterns are shared")
    if not isinstance(pattern, str) or not pattern.strip():
        return Problem(where, Reason.INVALID_PATTERN, "the indicator has no pattern")
    if len(pattern) > 16384:
        return Problem(where, Reason.INVALID_PATTERN, f"the pattern is {len(pattern)} characters (limit 16384)")
    types = _strings(obj.get("indicator_types"))[:16]
    simple = simple_pattern(pattern)
    if simple:
        return simple_indicator(*simple, where, types=types)
    try:
        errors = validate_pattern(pattern, ret_errs=True, print_errs=False)[1]
    except RecursionError:
        errors = ["nested too deeply"]
    if errors:
        return Problem(where, Reason.INVALID_PATTERN, f"invalid STIX pattern: {'; '.join(map(str, errors))[:300]}")
    normalised = " ".join(pattern.split())
    return Item(id=canonical.indicator_id("pattern", normalised), stix_type="indicator", where=where,
                pattern=normalised, indicator_types=types)


def _natural_key(obj: dict[str, Any]) -> str:
    """What makes two submitters' copies of an object the same object."""
    for ref in _dicts(obj.get("external_references")):
        if ref.get("source_name") in _PUBLIC_SOURCES and ref.get("external_id"):
            return f"{ref['source_name']}:{str(ref['external_id']).upper()}"
    if isinstance(obj.get("name"), str) and obj["name"].strip():
        return "name:" + " ".join(obj["name"].lower().split())
    return "id:" + str(obj.get("id"))


def _body(obj: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    body = scrub({k: v for k, v in obj.items() if k not in _HUB_OWNED and not k.startswith("x_")})
    if "external_references" in body:
        refs = [r for r in _dicts(body["external_references"]) if r.get("source_name") in _PUBLIC_SOURCES]
        if refs:
            body["external_references"] = refs
        else:
            del body["external_references"]
    for key in ("object_refs", "sample_refs", "operating_system_refs"):
        if isinstance(body.get(key), list):
            body[key] = [ids[r] for r in body[key] if isinstance(r, str) and r in ids]
            if not body[key]:
                del body[key]
    return dict(body)


def _sighting(parsed: Parsed, obj: dict[str, Any], where: str, levels: list[TLP], ids: dict[str, str]) -> None:
    """Sightings become feedback; where_sighted_refs (who saw it) are never read."""
    ref = obj.get("sighting_of_ref")
    target = ids.get(ref) if isinstance(ref, str) else None
    if target is None and isinstance(ref, str) and ref.startswith("indicator--"):
        target = ref  # an indicator the hub shared earlier, by its kizuna id
    if target is None:
        parsed.problems.append(Problem(where, Reason.DANGLING_REF, "the sighting is not of an indicator"))
        return
    count = obj.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        parsed.problems.append(Problem(where, Reason.INVALID_VALUE,
                                       f"sighting count {count!r} is not a positive integer"))
        return
    parsed.sightings.append(Sighting(str(obj.get("id")), target, count, most_restrictive(levels), where))


def parse_stix(document: Any) -> Parsed:
    parsed = Parsed("stix")
    if isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects")
    elif isinstance(document, list):
        objects = document
    elif isinstance(document, dict) and "type" in document:
        objects = [document]
    else:
        parsed.problems.append(Problem("document", Reason.MALFORMED,
                                       "expected a STIX bundle ({\"type\": \"bundle\", \"objects\": [...]})"))
        return parsed
    if not isinstance(objects, list) or not objects:
        parsed.problems.append(Problem("bundle", Reason.EMPTY, "the bundle has no objects"))
        return parsed
    good = [o for o in objects if isinstance(o, dict)]
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            parsed.problems.append(Problem(f"objects[{index}]", Reason.MALFORMED, "not a JSON object"))
    local = _local_markings(good)
    ids: dict[str, str] = {}  # submitted id -> canonical id
    deferred: list[tuple[dict[str, Any], str, list[TLP]]] = []
    for index, obj in enumerate(good):
        stix_type, oid = obj.get("type"), obj.get("id")
        where = f"object {oid}" if isinstance(oid, str) else f"objects[{index}]"
        if not isinstance(stix_type, str):
            parsed.problems.append(Problem(where, Reason.MALFORMED, "the object has no type"))
            continue
        if stix_type == "marking-definition":
            continue
        if stix_type in _WITHHELD:
            parsed.problems.append(Problem(where, Reason.WITHHELD, _WITHHELD[stix_type]))
            continue
        if stix_type == "sighting":
            deferred.append((obj, where, _marking_levels(obj, local)))
            continue
        levels = _marking_levels(obj, local)
        if stix_type == "indicator":
            result = _indicator(obj, where)
            if isinstance(result, Problem):
                parsed.problems.append(result)
                continue
            result.tlp = most_restrictive(levels)
            parsed.items.append(result)
            if isinstance(oid, str):
                ids[oid] = result.id
        elif stix_type in _SHAREABLE:
            if stix_type != "relationship" and isinstance(oid, str):
                ids[oid] = canonical.object_id(stix_type, _natural_key(obj))
            deferred.append((obj, where, levels))
        else:
            parsed.problems.append(Problem(where, Reason.UNSUPPORTED_TYPE, f"object type {stix_type!r} is not shared"))
    # Objects after indicators, so that relationships and refs point at canonical ids.
    for obj, where, levels in deferred:
        stix_type = obj["type"]
        if stix_type == "sighting":
            _sighting(parsed, obj, where, levels, ids)
            continue
        if stix_type == "relationship":
            source_ref, target_ref = obj.get("source_ref"), obj.get("target_ref")
            source = ids.get(source_ref) if isinstance(source_ref, str) else None
            target = ids.get(target_ref) if isinstance(target_ref, str) else None
            if not source or not target:
                parsed.problems.append(Problem(where, Reason.DANGLING_REF,
                                               "the relationship points at an object not shared in this bundle"))
                continue
            kind = str(obj.get("relationship_type", "related-to"))
            body = _body(obj, ids) | {"source_ref": source, "target_ref": target, "relationship_type": kind}
            item_id = canonical.object_id("relationship", f"{source}|{kind}|{target}")
        else:
            body = _body(obj, ids)
            own_id = obj.get("id")
            item_id = ((ids.get(own_id) if isinstance(own_id, str) else None)
                       or canonical.object_id(stix_type, _natural_key(obj)))
        parsed.items.append(Item(id=item_id, stix_type=stix_type, where=where, tlp=most_restrictive(levels), body=body))
    return parsed
