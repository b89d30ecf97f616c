"""STIX 2.1 bundles in: indicators with canonical ids, and the objects around them (R10)."""
from __future__ import annotations

import re
import uuid
from typing import Any

from stix2.base import SCO_DET_ID_NAMESPACE, _choose_one_hash
from stix2.canonicalization.Canonicalize import canonicalize as canonical_json
from stix2.registry import class_for_type
from stix2patterns.validator import validate as validate_pattern

from streams.core import canonical
from streams.core.items import Item, Parsed, Problem, Reason, Sighting, simple_indicator
from streams.core.scrub import scrub
from streams.core.stix_out import EXTENSION_ID as KIZUNA_EXTENSION_ID
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
                        "object_marking_refs", "granular_markings", "revoked"})
# Object types that carry identity or are feedback, not shared content (skipped, reason `withheld`).
_WITHHELD = {
    "identity": "identity objects are not shared: they would name the provider or a victim",
    "user-account": "user accounts are not shared: they are personal data of a victim",
}
# Public knowledge bases whose external references are kept; others may be internal tickets.
# LINK_SOURCE: links a provider published with its MISP event (`link` attributes), kept as it chose to share them.
LINK_SOURCE = "misp-link"
_PUBLIC_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack", "capec", "cve", "cwe", "nvd",
                             LINK_SOURCE})
# STIX 2.1 cyber-observables: carried under their deterministic ids.
SCO_TYPES = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
    "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
    "windows-registry-key", "x509-certificate",
})
_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKCR": "HKEY_CLASSES_ROOT",
          "HKU": "HKEY_USERS", "HKCC": "HKEY_CURRENT_CONFIG"}
_STIX_ID = re.compile(r"^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Objects that STIX requires to refer to others (object_refs).
_CONTAINERS = frozenset({"grouping", "note", "observed-data", "opinion", "report"})
# Objects that are one author's own view (two reports named alike are two reports): keyed by their id.
_OWN_VIEWS = frozenset({"grouping", "malware-analysis", "note", "observed-data", "opinion", "report"})
# Detection-rule languages carried as indicators with their own pattern_type, the rule intact.
RULE_PATTERN_TYPES = frozenset({"yara", "sigma", "snort", "suricata", "pcre"})
# STIX 2.1 domain objects (and the language-content SMO), deduplicated across submitters by natural key.
_SDOS = frozenset({
    "attack-pattern", "campaign", "course-of-action", "grouping", "infrastructure", "intrusion-set",
    "location", "malware", "malware-analysis", "note", "observed-data", "opinion", "report", "threat-actor",
    "tool", "vulnerability", "language-content",
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
    if pattern_type != "stix" and (not isinstance(pattern_type, str) or pattern_type not in RULE_PATTERN_TYPES):
        return Problem(where, Reason.UNSUPPORTED_PATTERN_TYPE,
                       f"pattern_type {str(pattern_type)[:40]!r} is not supported; "
                       f"kizuna shares stix, {', '.join(sorted(RULE_PATTERN_TYPES))}")
    if not isinstance(pattern, str) or not pattern.strip():
        return Problem(where, Reason.INVALID_PATTERN, "the indicator has no pattern")
    if len(pattern) > 65536:
        return Problem(where, Reason.INVALID_PATTERN, f"the pattern is {len(pattern)} characters (limit 65536)")
    types = _strings(obj.get("indicator_types"))[:16]
    if pattern_type != "stix":  # a detection rule: carried intact, one record per rule text
        body = {k: obj[k] for k in ("name", "description", "pattern_version") if isinstance(obj.get(k), str)}
        body = scrub(body) | {"pattern": pattern, "pattern_type": pattern_type}
        if types:
            body["indicator_types"] = types
        return Item(id=canonical.object_id("indicator", f"{pattern_type}|{pattern.strip()}"), stix_type="indicator",
                    where=where, indicator_types=types, body=body)
    if len(pattern) > 16384:
        return Problem(where, Reason.INVALID_PATTERN, f"the pattern is {len(pattern)} characters (limit 16384)")
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
    """What makes two submitters' copies of an object the same object: a public knowledge base's id,
    else the name (a malware family, a tool ...), except for what is one author's own view of things."""
    for ref in _dicts(obj.get("external_references")):
        if ref.get("source_name") in _PUBLIC_SOURCES and ref.get("external_id"):
            return f"{ref['source_name']}:{str(ref['external_id']).upper()}"
    if obj.get("type") not in _OWN_VIEWS and isinstance(obj.get("name"), str) and obj["name"].strip():
        return "name:" + " ".join(obj["name"].lower().split())
    return "id:" + str(obj.get("id"))


def _rewire(value: Any, ids: dict[str, str], key: str = "") -> Any:
    """Every `*_ref`/`*_refs` at any depth pointed at the canonical id; a ref to an object not carried
    is dropped (a submitter's own ids never leave the hub)."""
    if key.endswith("_ref"):
        return ids.get(value) if isinstance(value, str) else None
    if key.endswith("_refs") and isinstance(value, list):
        return [ids[r] for r in value if isinstance(r, str) and r in ids] or None
    if isinstance(value, dict):
        pairs = ((k, _rewire(v, ids, k)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not None}
    if isinstance(value, list):
        return [_rewire(v, ids) for v in value]
    return value


def _body(obj: dict[str, Any], ids: dict[str, str], kept: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What is carried of an object: custom `x_` properties and extensions included, the hub-owned ones
    and a forged kizuna extension not; prose scrubbed of personal data except the `kept` properties
    (an observable's own values: an IP address is no phone number)."""
    body = {k: v for k, v in obj.items() if k not in _HUB_OWNED}
    body = {k: (v if k in kept else scrub(v, k)) for k, v in _rewire(body, ids).items()}
    if isinstance(body.get("extensions"), dict):
        body["extensions"] = {k: v for k, v in body["extensions"].items() if k != KIZUNA_EXTENSION_ID}
        if not body["extensions"]:
            del body["extensions"]
    if "external_references" in body:
        refs = [r for r in _dicts(body["external_references"]) if r.get("source_name") in _PUBLIC_SOURCES]
        if refs:
            body["external_references"] = refs
        else:
            del body["external_references"]
    return body


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


def _contributing(stix_type: str) -> tuple[str, ...]:
    """An observable type's id-contributing properties, as the stix2 library defines them."""
    return tuple(getattr(class_for_type(stix_type, "2.1", "observables"), "_id_contributing_properties", None) or ())


def _canonical_sco(obj: dict[str, Any], where: str) -> dict[str, Any] | Problem:
    """An observable with kizuna's canonical value (IDNA domain, compressed IPv6, lower-case hashes) and
    registry keys with their hive written out, as STIX 2.1 requires (HKCU -> HKEY_CURRENT_USER)."""
    stix_type, value = obj["type"], obj.get("value")
    if (stix_type, "value") in _PATH_KINDS and isinstance(value, str):
        try:
            obj = {**obj, "value": canonical.canonicalize(_PATH_KINDS[(stix_type, "value")], value)[1]}
        except canonical.InvalidValue as exc:
            return Problem(where, Reason.INVALID_VALUE, str(exc))
    if isinstance(obj.get("hashes"), dict):
        obj = {**obj, "hashes": {k: v.lower() if isinstance(v, str) else v for k, v in obj["hashes"].items()}}
    if stix_type == "windows-registry-key" and isinstance(obj.get("key"), str):
        hive, sep, rest = obj["key"].partition("\\")
        obj = {**obj, "key": _HIVES.get(hive.upper(), hive) + sep + rest}
    return obj


def _sco_id(obj: dict[str, Any], ids: dict[str, str]) -> str | None:
    """The STIX 2.1 deterministic id of an observable (UUIDv5 of its id-contributing properties, as
    the stix2 library defines them), over kizuna's canonical value; None while a ref it is made of
    is not resolved yet. The same observable from any submitter is one record."""
    stix_type = obj["type"]
    contributing = _contributing(stix_type)
    values: dict[str, Any] = {}
    for key in contributing:
        if key not in obj:
            continue
        value = obj[key]
        if key.endswith("_ref") or key.endswith("_refs"):
            value = _rewire({key: value}, ids).get(key)
            if value is None or (key.endswith("_refs") and len(value) != len(obj[key])):
                return None
        elif key == "hashes" and isinstance(value, dict):
            value = _choose_one_hash(value)
        values[key] = value
    try:
        name = canonical_json(values, utf8=False)
    except (TypeError, ValueError):  # not JSON the canonicaliser takes: keyed by its own id, as below
        values = {}
    if not values:  # no contributing property: the spec leaves the id random, kizuna keys it by its own id
        return canonical.object_id(stix_type, "id:" + str(obj.get("id")))
    return f"{stix_type}--{uuid.uuid5(SCO_DET_ID_NAMESPACE, name)}"


def _custom_types(objects: list[dict[str, Any]]) -> frozenset[str]:
    """Types that extension-definitions in the bundle declare (new-sdo / new-sco / new-sro)."""
    declared = set()
    for obj in objects:
        if obj.get("type") == "extension-definition" and any(
                t in ("new-sdo", "new-sco", "new-sro") for t in _strings(obj.get("extension_types"))):
            declared.add(str(obj.get("id")))
    return frozenset(declared)


def _kind(obj: dict[str, Any], declared: frozenset[str]) -> str | None:
    """sdo | sco | custom (x- types, objects under an extension-definition, extension-definitions) | None."""
    stix_type = obj["type"]
    if stix_type in _SDOS:
        return "sdo"
    if stix_type in SCO_TYPES:
        return "sco"
    extensions = obj.get("extensions")
    if (stix_type.startswith("x-") or stix_type == "extension-definition"
            or (isinstance(extensions, dict) and any(k in declared for k in extensions))):
        return "custom"
    return None


def _classify(parsed: Parsed, good: list[dict[str, Any]], local: dict[str, TLP], drop: frozenset[str],
              ids: dict[str, str], left_out: set[str]) -> list[tuple[dict[str, Any], str, list[TLP]]]:
    """First pass: indicators parsed, every other object's canonical id found or its skip recorded;
    returns what is read after the ids are known (objects, relationships, sightings)."""
    declared = _custom_types(good)
    deferred: list[tuple[dict[str, Any], str, list[TLP]]] = []
    scos: list[tuple[dict[str, Any], str, list[TLP]]] = []
    for index, obj in enumerate(good):
        stix_type, oid = obj.get("type"), obj.get("id")
        where = f"object {oid}" if isinstance(oid, str) else f"objects[{index}]"
        if not isinstance(stix_type, str):
            parsed.problems.append(Problem(where, Reason.MALFORMED, "the object has no type"))
            continue
        skip = None
        if stix_type == "marking-definition":
            skip = Problem(where, Reason.MARKING, "marking definitions are not carried: the hub marks every record "
                           "with its TLP 2.0 level, read from this marking where it is one")
        elif stix_type in drop:
            skip = Problem(where, Reason.DROPPED_TYPE, f"the hub's operator does not share {stix_type!r} objects "
                           "(KIZUNA_DROP_TYPES)")
        elif stix_type in _WITHHELD:
            skip = Problem(where, Reason.WITHHELD, _WITHHELD[stix_type])
        if skip is not None:
            parsed.problems.append(skip)
            if isinstance(oid, str):
                left_out.add(oid)
            continue
        if obj.get("revoked") is True and isinstance(oid, str):  # a withdrawal: what points at it is not shared
            left_out.add(oid)
        levels = _marking_levels(obj, local)
        if stix_type == "indicator":
            result = _indicator(obj, where)
            if isinstance(result, Problem):
                parsed.problems.append(result)
                continue
            result.tlp, result.withdraw = most_restrictive(levels), obj.get("revoked") is True
            parsed.items.append(result)
            if isinstance(oid, str):
                ids[oid] = result.id
            continue
        if stix_type in ("sighting", "relationship"):
            deferred.append((obj, where, levels))
            continue
        kind = _kind(obj, declared)
        if kind in ("sco", "custom") and not isinstance(oid, str):
            parsed.problems.append(Problem(where, Reason.MALFORMED, "the object has no id"))
        elif kind is None:
            parsed.problems.append(Problem(where, Reason.UNSUPPORTED_TYPE, f"{stix_type!r} is neither a STIX 2.1 "
                                           "type nor a custom one (x- or under an extension-definition)"))
        elif kind == "sco":
            sco = _canonical_sco(obj, where)
            if isinstance(sco, Problem):
                parsed.problems.append(sco)
            else:
                scos.append((sco, where, levels))
        else:
            if isinstance(oid, str):
                ids[oid] = (canonical.object_id(stix_type, _natural_key(obj)) if kind == "sdo"
                            else oid if _STIX_ID.match(oid) and oid.startswith(stix_type + "--")
                            else canonical.object_id(stix_type, "id:" + oid))
            deferred.append((obj, where, levels))
    _sco_ids(parsed, scos, ids, deferred)
    return deferred


def _sco_ids(parsed: Parsed, scos: list[tuple[dict[str, Any], str, list[TLP]]], ids: dict[str, str],
             deferred: list[tuple[dict[str, Any], str, list[TLP]]]) -> None:
    """Observables whose ids depend on others' (a network-traffic's src_ref ...) after those."""
    pending = scos
    while pending:
        waiting = []
        for entry in pending:
            result = _sco_id(entry[0], ids)
            if result is None:
                waiting.append(entry)
            else:
                ids[str(entry[0].get("id"))] = result
                deferred.append(entry)
        if len(waiting) == len(pending):  # refs to objects not in the bundle: keyed by what is known
            for obj, where, _ in waiting:
                parsed.problems.append(Problem(where, Reason.DANGLING_REF,
                                               "the observable refers to an object not in this bundle"))
            return
        pending = waiting


def parse_stix(document: Any, drop: frozenset[str] = frozenset()) -> Parsed:
    """A bundle -> items, skips and rejections; `drop`: types the operator does not share."""
    parsed = Parsed("stix")
    if isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects")
    elif isinstance(document, list):
        objects = document
    elif isinstance(document, dict) and "type" in document:
        objects = [document]
    else:
        parsed.problems.append(Problem("document", Reason.MALFORMED,
                                       'expected a STIX bundle ({"type": "bundle", "objects": [...]})'))
        return parsed
    if not isinstance(objects, list) or not objects:
        parsed.problems.append(Problem("bundle", Reason.EMPTY, "the bundle has no objects"))
        return parsed
    good = [o for o in objects if isinstance(o, dict)]
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            parsed.problems.append(Problem(f"objects[{index}]", Reason.MALFORMED, "not a JSON object"))
    ids: dict[str, str] = {}  # submitted id -> canonical id
    left_out: set[str] = set()  # submitted ids skipped by policy: what points at them is skipped too
    deferred = _classify(parsed, good, _local_markings(good), drop, ids, left_out)
    shared = {oid: canonical_id for oid, canonical_id in ids.items() if oid not in left_out}
    # Objects after indicators, so that relationships and refs point at canonical ids.
    for obj, where, levels in deferred:
        stix_type = obj["type"]
        if stix_type == "sighting":
            _sighting(parsed, obj, where, levels, shared)
            continue
        if stix_type == "relationship":
            source_ref, target_ref = obj.get("source_ref"), obj.get("target_ref")
            source = ids.get(source_ref) if isinstance(source_ref, str) else None
            target = ids.get(target_ref) if isinstance(target_ref, str) else None
            if not obj.get("revoked") and any(isinstance(ref, str) and ref in left_out
                                              for ref in (source_ref, target_ref)):
                parsed.problems.append(Problem(where, Reason.WITHHELD_REF, "the relationship points at an "
                                               "object not shared by policy (withheld, revoked or dropped)"))
                continue
            if not source or not target:
                parsed.problems.append(Problem(where, Reason.DANGLING_REF,
                                               "the relationship points at an object not shared in this bundle"))
                continue
            kind = str(obj.get("relationship_type", "related-to"))
            body = _body(obj, ids) | {"source_ref": source, "target_ref": target, "relationship_type": kind}
            item_id = canonical.object_id("relationship", f"{source}|{kind}|{target}")
        else:
            own_id = obj.get("id")
            item_id = ((ids.get(own_id) if isinstance(own_id, str) else None)
                       or canonical.object_id(stix_type, _natural_key(obj)))
            kept = frozenset(_contributing(stix_type)) if stix_type in SCO_TYPES else frozenset()
            body = _body(obj, ids if obj.get("revoked") else shared, kept)
            if stix_type in _CONTAINERS and "object_refs" not in body:
                parsed.problems.append(Problem(where, Reason.DANGLING_REF, "none of the objects it refers to is "
                                               "shared in this bundle"))
                continue
        parsed.items.append(Item(id=item_id, stix_type=stix_type, where=where, tlp=most_restrictive(levels), body=body,
                                 withdraw=obj.get("revoked") is True))
    return parsed
