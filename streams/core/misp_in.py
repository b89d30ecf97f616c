"""MISP events in: converted to STIX 2.1 by misp-stix, then read by the STIX parser.

misp-stix (MISP's own converter) turns each attribute into its STIX observables,
galaxy clusters into SDOs and sightings into STIX Sightings. Around it, kizuna:

- gives misp-stix only what may be shared: type and value of each attribute, public
  galaxy clusters, that a sighting happened. `Org`, `Orgc`, `event_creator_email`, the
  title, comments, tags other than `tlp:`, event reports and who made a sighting
  never enter the conversion; the hub stands in as the event's creator. Sightings
  become sighting feedback from the submitter (false-positive ones name their
  organisation in misp-stix's output and are not carried);
- shares an attribute only when MISP marks it for detection (`to_ids`, or its type's
  default when absent); the others are context and are rejected with that reason;
- takes every observable of a kind it shares as one simple indicator, so the same
  value from a MISP event, a STIX bundle or a CSV is one record. Attributes inside
  MISP objects count one by one (the object's grouping is not carried), and a
  composite such as `domain|ip` yields one indicator per part;
- sets each attribute's TLP from `tlp:` tags on the event, its object and itself,
  and from MISP distribution levels (below): misp-stix marks only the event's report;
- takes plain attributes of the common single-value types (`PLAIN_TYPES`: ip, domain,
  url, hashes, e-mail; no sightings, no galaxies) without running misp-stix, which
  costs ~0.5 ms an attribute: their conversion is the value as one observable, and
  tests/unit/test_misp_plain.py holds both paths to the same records and rejections.

Distribution, never upward (DESIGN rule 1): 0 "your organisation only" and 4
"sharing group" name who may see the data, so they narrow to TLP:RED whatever the
tags say (RED reaches only recipients the submitter names with --to). Where no
`tlp:` tag is present, 1 "this community only" is AMBER and 2 "connected
communities" and 3 "all communities" are GREEN: CLEAR only ever comes from a tag.
5 "inherit" defers to the event.
"""
from __future__ import annotations

import importlib.util
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from streams.core.canonical import pattern_for
from streams.core.items import Parsed, Problem, Reason
from streams.core.stix_in import LINK_SOURCE, parse_stix
from streams.tlp import TLP, most_restrictive, parse_level

# MISP type names people write where no event is around them (CSV type columns): type -> kinds,
# one per part of a composite, None for a part that is no indicator.
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

# Attribute types that are context by nature, whatever their value looks like.
CONTEXT_TYPES = frozenset({"link", "text", "comment", "other"})
# Detection-rule attribute types -> the STIX indicator pattern_type they are carried under.
RULE_TYPES = {"yara": "yara", "sigma": "sigma", "snort": "snort", "suricata": "suricata"}

# Types whose misp-stix conversion is the value as one observable (tests/unit/test_misp_plain.py
# compares them with misp-stix). Not hostname: misp-stix refuses a trailing dot that it accepts
# for domain. Not composites: misp-stix refuses the whole attribute when one part is bad.
PLAIN_TYPES = frozenset(t for t, kinds in ATTRIBUTE_KINDS.items() if len(kinds) == 1) - {"hostname"}

# Distribution naming who may see it: RED whatever the tags say.
DISTRIBUTION_AUDIENCE: dict[int, TLP] = {0: TLP.RED, 4: TLP.RED}
_AUDIENCE_NAMES = {0: "your organisation only", 4: "sharing group"}
# Distribution saying how far it may travel: the level only where no tlp: tag is present.
DISTRIBUTION_REACH: dict[int, TLP] = {1: TLP.AMBER, 2: TLP.GREEN, 3: TLP.GREEN}

# misp-stix requires a creator; the hub stands in so that the real one never enters the conversion.
_STAND_IN_CREATOR = {"uuid": "8f1d5a4e-6b0c-4d2e-9f3a-6b697a756e61", "name": "kizuna"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEYS = uuid.UUID("2b7c9e14-3f5a-4c6d-8e1f-6b697a756e61")  # namespace of ids made up for records without one

# Observable types (STIX cyber-observables) whose value is an indicator kind; file hashes by algorithm.
_VALUE_KINDS = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr"})
_HASH_KINDS = {"MD5": "file-md5", "SHA-1": "file-sha1", "SHA-256": "file-sha256", "SHA-512": "file-sha512"}
# What misp-stix makes of galaxy clusters and of attributes such as `vulnerability` or `threat-actor`.
# Everything else it makes is not shared as such: the event's report and its creator, the observables
# (shared as indicators instead), markings (set here from tags and distribution), notes and opinions.
_SDO_KINDS = ("attack-pattern", "campaign", "course-of-action", "intrusion-set", "location", "malware",
              "threat-actor", "tool", "vulnerability")
_GALAXY_KEYS = ("uuid", "name", "type", "description", "version", "namespace", "kill_chain_order")
_CLUSTER_KEYS = ("uuid", "collection_uuid", "type", "value", "tag_name", "description", "source", "meta", "default")


class _QuietValidation(logging.Filter):
    """pymisp logs each attribute it cannot load; the same messages come back as problems."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.module != "attributevalidationtool"


@cache
def _converter() -> type:
    """misp-stix's parser class, imported on first use (~2 s and ~77 MiB: misp-stix brings pymisp,
    jsonschema and its STIX 1 libraries along), so events of plain attributes never load it."""
    from misp_stix_converter import MISPtoSTIX21Parser

    logging.getLogger("pymisp").addFilter(_QuietValidation())
    parser: type = MISPtoSTIX21Parser
    return parser


@cache
def _detection_defaults() -> dict[str, bool]:
    """MISP's attribute types, each with whether it is for detection by default (`to_ids`), read
    from the table pymisp ships (pymisp/data/describeTypes.json) without importing pymisp."""
    spec = importlib.util.find_spec("pymisp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pymisp is not installed: run `make venv`")
    table = Path(next(iter(spec.submodule_search_locations))) / "data" / "describeTypes.json"
    defaults = orjson.loads(table.read_bytes())["result"]["sane_defaults"]
    return {name: bool(d.get("to_ids")) for name, d in defaults.items()}


@dataclass(slots=True)
class _Source:
    """One attribute: where it was in the submission and its level."""

    where: str
    level: TLP | None
    misp_type: str
    for_detection: bool  # MISP's to_ids: the provider's word that it is for detection, not only context
    parts: list[tuple[str, str]] | None = None  # (kind, value) of a plain attribute, taken without misp-stix
    audience: str | None = None  # "distribution 0 (your organisation only)" when that made `level` RED
    tagged: TLP | None = None  # the level from tags and reach alone (what --override-distribution uses)
    group: str | None = None  # key of the MISP object it is part of
    rule: tuple[str, str] | None = None  # (pattern_type, rule) of a detection-rule attribute
    deleted: bool = False  # deleted in MISP: the provider withdraws what it had shared of it


def plain_parts(misp_type: str, value: str) -> list[tuple[str, str]] | None:
    """What misp-stix makes of a plain attribute of a type in ATTRIBUTE_KINDS, without running it:
    its value split into the observables of those kinds. misp-stix costs ~0.5 ms an attribute
    (docs/performance.md) and the common types are a fixed split; tests/unit/test_misp_plain.py
    checks that this gives what misp-stix gives, type by type. None: let misp-stix decide."""
    kinds = ATTRIBUTE_KINDS.get(misp_type) if misp_type in PLAIN_TYPES else None
    if kinds is None:
        return None
    pieces = value.split("|") if len(kinds) > 1 else [value]
    if len(pieces) != len(kinds) or not all(piece.strip() for piece in pieces):
        return None
    return [("ipv6-addr" if kind == "ipv4-addr" and ":" in piece else kind, piece)
            for kind, piece in zip(kinds, pieces) if kind is not None]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


def _tag_levels(container: dict[str, Any]) -> list[TLP]:
    levels = []
    for tag in _dicts(container.get("Tag")):
        name = tag.get("name")
        if isinstance(name, str) and name.lower().startswith("tlp:"):
            level = parse_level(name)
            if level is not None:
                levels.append(level)
    return levels


def _distribution(container: dict[str, Any]) -> int | None:
    value = container.get("distribution")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def level_of(chain: list[dict[str, Any]]) -> TLP | None:
    """The level of the last of event -> object -> attribute from the tags and distribution of all."""
    return _levels(chain)[0]


def _levels(chain: list[dict[str, Any]]) -> tuple[TLP | None, TLP | None, str | None]:
    """(level, level from tags and reach alone, the distribution naming an audience that made it RED)."""
    tags = [level for container in chain for level in _tag_levels(container)]
    distributions = [d for d in map(_distribution, chain) if d is not None]
    audience = next((d for d in distributions if d in DISTRIBUTION_AUDIENCE), None)
    levels = list(tags)
    if not tags:
        levels += [DISTRIBUTION_REACH[d] for d in distributions if d in DISTRIBUTION_REACH]
    tagged = most_restrictive(levels)
    if audience is None:
        return tagged, tagged, None
    return TLP.RED, tagged, f"distribution {audience} ({_AUDIENCE_NAMES[audience]})"


def _events(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("response"), list):
        events: list[Any] = document["response"]
        return events
    if isinstance(document, list):
        return document
    return [document]


def _key(value: Any, fallback: str, taken: set[str]) -> str:
    """The record's own uuid when it has a valid, unused one; else one made from its position."""
    try:
        key = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        key = None
    if key is None or key in taken:
        key = str(uuid.uuid5(_KEYS, fallback))
    taken.add(key)
    return key


def _galaxies(value: Any, where: str, problems: list[Problem]) -> list[dict[str, Any]]:
    """Galaxies with their public clusters only: a cluster the provider made itself could name it."""
    kept = []
    for galaxy in _dicts(value):
        clusters = []
        for cluster in _dicts(galaxy.get("GalaxyCluster")):
            if cluster.get("default") is True:
                clusters.append({k: cluster[k] for k in _CLUSTER_KEYS if k in cluster})
            else:
                problems.append(Problem(where, Reason.WITHHELD,
                                        f"galaxy cluster {str(cluster.get('value'))[:80]!r} is not from the public "
                                        "MISP galaxies and could identify the provider"))
        if clusters:
            kept.append({**{k: galaxy[k] for k in _GALAXY_KEYS if k in galaxy}, "GalaxyCluster": clusters})
    return kept


def _sightings(value: Any, fallback: str, taken: set[str]) -> list[dict[str, Any]]:
    """Sightings proper (type 0) without who made them; false-positive and expiration
    sightings name their organisation in misp-stix's opinions and are not carried."""
    return [{"uuid": _key(s.get("uuid"), f"{fallback}/s{i}", taken), "type": "0"}
            for i, s in enumerate(_dicts(value)) if str(s.get("type", "0")) == "0"]


def _prepare(event: dict[str, Any], where_event: str, problems: list[Problem],
             plain: bool = True) -> tuple[dict[str, Any], dict[str, _Source]]:
    """What misp-stix may see of the event, and each attribute's origin keyed by its uuid.
    With `plain`, attributes without sightings or galaxies whose type is a fixed split
    (`plain_parts`) bypass misp-stix."""
    event_key = _key(event.get("uuid"), where_event, set())
    chains: list[tuple[Any, list[dict[str, Any]], str | None]] = [
        (a, [event], None) for a in _list(event.get("Attribute"))]
    for index, obj in enumerate(_list(event.get("Object"))):
        if isinstance(obj, dict):
            object_key = _key(obj.get("uuid"), f"{event_key}/object/{index}", set())
            chains += [({**a, "deleted": True} if isinstance(a, dict) and obj.get("deleted") is True else a,
                        [event, obj], object_key) for a in _list(obj.get("Attribute"))]
        else:
            problems.append(Problem(where_event, Reason.MALFORMED, "an object is not a JSON object"))
    taken: set[str] = set()
    attributes, sources = [], {}
    detection_defaults = _detection_defaults()
    for position, (attribute, chain, group) in enumerate(chains):
        if not isinstance(attribute, dict):
            problems.append(Problem(where_event, Reason.MALFORMED, "an attribute is not a JSON object"))
            continue
        where = f"attribute {attribute.get('uuid') or attribute.get('id') or '?'}"
        misp_type, value = attribute.get("type"), attribute.get("value")
        if not isinstance(misp_type, str) or misp_type not in detection_defaults:
            problems.append(Problem(where, Reason.UNSUPPORTED_TYPE, f"{misp_type!r} is not a MISP attribute type"))
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(where, Reason.INVALID_VALUE, "the attribute has no text value"))
            continue
        key = _key(attribute.get("uuid"), f"{event_key}/{position}", taken)
        to_ids = attribute.get("to_ids")
        level, tagged, audience = _levels(chain + [attribute])
        deleted = attribute.get("deleted") is True
        source = _Source(where, level, misp_type, to_ids if isinstance(to_ids, bool) else detection_defaults[misp_type],
                         audience=audience, tagged=tagged, group=group, deleted=deleted)
        sources[key] = source
        if misp_type in RULE_TYPES:
            source.rule = (RULE_TYPES[misp_type], value)
            continue
        if plain and (deleted or (not attribute.get("Sighting") and not attribute.get("Galaxy"))):
            source.parts = plain_parts(misp_type, value)
            if source.parts is not None:
                continue
        attributes.append({"uuid": key, "type": misp_type, "value": value, "to_ids": False,
                           "Sighting": [] if deleted else _sightings(attribute.get("Sighting"), key, taken),
                           "Galaxy": _galaxies(attribute.get("Galaxy"), where, problems)})
    prepared = {"uuid": event_key, "info": "kizuna submission", "Orgc": _STAND_IN_CREATOR, "Attribute": attributes,
                "Galaxy": _galaxies(event.get("Galaxy"), where_event, problems)}
    return {"Event": prepared}, sources


def _observables(observed: Mapping[str, Any] | None, objects: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of every observable of a shared kind in one observed-data."""
    found = []
    for ref in (observed or {}).get("object_refs") or []:
        sco = objects.get(ref) or {}
        if sco.get("type") in _VALUE_KINDS and isinstance(sco.get("value"), str):
            found.append((sco["type"], sco["value"]))
        elif sco.get("type") == "file":
            found += [(_HASH_KINDS[name], digest) for name, digest in (sco.get("hashes") or {}).items()
                      if name in _HASH_KINDS]
    return found


def _plain(obj: Any) -> dict[str, Any]:
    """A stix2 object as plain JSON, for the STIX parser. Observables are only read, never converted:
    that would cost a fifth of the conversion."""
    plain: dict[str, Any] = orjson.loads(obj.serialize())
    return plain


def _marked(obj: dict[str, Any], level: TLP | None) -> dict[str, Any]:
    obj = {k: v for k, v in obj.items() if k != "object_marking_refs"}
    return {**obj, "object_marking_refs": [level.marking_id]} if level is not None else obj


def _rewired(obj: dict[str, Any], expanded: dict[str, tuple[list[str], TLP | None]],
             event_level: TLP | None) -> list[dict[str, Any]]:
    """A sighting or relationship pointed at the indicators its observed-data became, one copy
    per indicator, at the most restrictive level of what it joins."""
    fields = ("sighting_of_ref",) if obj["type"] == "sighting" else ("source_ref", "target_ref")
    choices = [expanded.get(ref, ([ref], event_level)) if isinstance(ref, str) else ([ref], event_level)
               for ref in (obj.get(field) for field in fields)]
    level = most_restrictive([lvl for _, lvl in choices if lvl is not None] +
                             ([event_level] if obj["type"] == "relationship" and event_level else []))
    combinations: list[list[Any]] = [[]]
    for ids, _ in choices:
        combinations = [done + [ref] for done in combinations for ref in ids]
    if obj["type"] == "sighting":  # only what it is of: who saw it and where never pass
        obj = {"type": "sighting", "spec_version": "2.1", "id": obj["id"]}
    return [_marked({**obj, **dict(zip(fields, refs)),
                     "id": f"{obj['type']}--{uuid.uuid5(_KEYS, '|'.join([obj['id'], *map(str, refs)]))}"}, level)
            for refs in combinations]


def _convert(event: dict[str, Any], where_event: str, plain: bool = True, drop: frozenset[str] = frozenset()) -> Parsed:
    """One event -> misp-stix -> the objects kizuna shares. Galaxies misp-stix cannot read are left
    out (with a problem) rather than cost the event's indicators."""
    problems: list[Problem] = []
    prepared, sources = _prepare(event, where_event, problems, plain)
    if not prepared["Event"]["Attribute"] and not prepared["Event"]["Galaxy"]:
        return _shared(event, where_event, {}, [], sources, problems, drop)  # all plain: nothing for misp-stix
    try:
        objects, said = _run_misp_stix(prepared)
    except Exception as exc:  # noqa: BLE001 - misp-stix failing on hostile input costs this event at most
        containers = [prepared["Event"], *prepared["Event"]["Attribute"]]
        if not any(container["Galaxy"] for container in containers):
            return _failed(where_event, problems, exc)
        problems.append(Problem(where_event, Reason.MALFORMED,
                                f"galaxies left out, misp-stix could not convert them: {exc}"[:300]))
        for container in containers:
            container["Galaxy"] = []
        try:
            objects, said = _run_misp_stix(prepared)
        except Exception as again:  # noqa: BLE001 - as above
            return _failed(where_event, problems, again)
    return _shared(event, where_event, objects, said, sources, problems, drop)


def _failed(where_event: str, problems: list[Problem], exc: Exception) -> Parsed:
    return Parsed("misp", problems=[*problems, Problem(where_event, Reason.MALFORMED,
                                                       f"misp-stix could not convert the event: {exc}"[:300])])


def _run_misp_stix(prepared: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """misp-stix's objects by id, and what it said about the records it could not convert."""
    converter = _converter()()
    converter.parse_json_content(prepared)
    said = [m for group in (converter.errors, converter.warnings) for ms in group.values() for m in ms]
    return {obj["id"]: obj for obj in converter.stix_objects}, said


def _shared(event: dict[str, Any], where_event: str, objects: dict[str, Any], said: list[str],
            sources: dict[str, _Source], problems: list[Problem], drop: frozenset[str] = frozenset()) -> Parsed:
    """misp-stix's output -> what kizuna shares, marked with each attribute's level -> the STIX parser.

    Per attribute: indicators of its shared kinds (to_ids false ones too, flagged not for detection),
    its SDOs, the observables of a composite (`domain|ip` -> a domain resolving to an address) or of a
    type with no indicator kind (mutex, registry key, lone file name ...), detection rules as indicators
    with their own pattern_type, and pure context (text, comment, other ...) as a note on the event's
    report. The parts of a MISP object are grouped; the report refers to everything at its level."""
    event_level = level_of([event])
    report_id = f"report--{uuid.uuid5(_KEYS, where_event)}"
    bundle, labels, owned = [], {}, set()
    expanded: dict[str, tuple[list[str], TLP | None]] = {}
    report_refs: list[str] = []
    links: list[str] = []
    groups: dict[str, tuple[list[str], list[TLP | None]]] = {}
    for key, source in sources.items():
        made = _attribute_objects(key, source, objects, report_id)
        if not made:
            message = next((m for m in said if key in m), None)
            problems.append(Problem(source.where, Reason.INVALID_VALUE, message[:300]) if message else Problem(
                source.where, Reason.UNSUPPORTED_TYPE,
                f"MISP attribute type {source.misp_type!r} carries nothing kizuna shares"))
            continue
        made = [_marked(obj, source.level) for obj in made]
        bundle += made
        owned |= {obj["id"] for obj in made}
        labels.update({f"object {obj['id']}": source.where for obj in made})
        indicators = [obj["id"] for obj in made if obj["type"] == "indicator"]
        expanded[f"observed-data--{key}"] = (indicators, source.level)
        parts = [obj["id"] for obj in made]
        if source.deleted:  # withdrawn: no report or MISP object refers to it any more
            continue
        if source.misp_type == "link":
            links.append(str(next((o.get("value") for o in made if o["type"] == "url"), "")))
        if event_level is None or (source.level is not None and source.level <= event_level):
            report_refs += parts
        if source.group is not None:
            group = groups.setdefault(source.group, ([], []))
            group[0].extend(parts)
            group[1].append(source.level)
    for group_key, (refs, levels) in groups.items():
        if refs:  # a MISP object: its parts, related by being grouped, at the level of its narrowest part
            level = None if None in levels else most_restrictive([lvl for lvl in levels if lvl is not None])
            bundle.append(_marked({"type": "grouping", "spec_version": "2.1", "id": f"grouping--{group_key}",
                                   "name": "MISP object", "context": "unspecified", "object_refs": refs}, level))
            labels[f"object grouping--{group_key}"] = where_event
    for obj in objects.values():
        if obj["type"] in _SDO_KINDS and obj["id"] not in owned:
            bundle.append(_marked(_plain(obj), event_level))
            report_refs.append(obj["id"])
        elif obj["type"] in ("sighting", "relationship"):
            for rewired in _rewired(_plain(obj), expanded, event_level):
                bundle.append(rewired)
                if rewired["type"] == "sighting":
                    labels[f"object {rewired['id']}"] = labels.get(f"object {rewired['sighting_of_ref']}", where_event)
    if report_refs:
        bundle.append(_marked(_report(event, report_id, report_refs, links), event_level))
        labels[f"object {report_id}"] = where_event
    parsed = parse_stix({"type": "bundle", "objects": bundle}, drop) if bundle else Parsed("misp")
    parsed.format = "misp"
    by_where = {source.where: source for source in sources.values()}
    _, event_tagged, event_audience = _levels([event])
    for item in parsed.items:
        item.where = labels.get(item.where, item.where)
        origin = by_where.get(item.where)
        if origin is not None:
            item.for_detection, item.audience, item.tagged = origin.for_detection, origin.audience, origin.tagged
            item.withdraw = origin.deleted
        elif item.tlp is event_level:  # the event's report, its groupings and galaxies: the event's own level
            item.audience, item.tagged = event_audience, event_tagged
    parsed.sightings = [replace(s, where=labels.get(s.where, s.where)) for s in parsed.sightings]
    made_here = {f"object {report_id}", *(f"object grouping--{key}" for key in groups)}  # kizuna's, not the provider's
    parsed.problems = problems + [replace(p, where=labels.get(p.where, p.where)) for p in parsed.problems
                                  if p.where not in made_here]
    return parsed


def _attribute_objects(key: str, source: _Source, objects: dict[str, Any], report_id: str) -> list[dict[str, Any]]:
    """The STIX objects one attribute is carried as (unmarked), with ids local to this conversion."""
    if source.rule is not None:
        pattern_type, rule = source.rule
        return [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{key}", "pattern": rule,
                 "pattern_type": pattern_type, "indicator_types": ["malicious-activity"]}]
    observed = objects.get(f"observed-data--{key}")
    parts = source.parts if source.parts is not None else _observables(observed, objects)
    if source.misp_type in CONTEXT_TYPES:  # a link to an analysis is no indicator: its URL is context
        parts = []
    made: list[dict[str, Any]] = [
        {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid5(_KEYS, f'{key}|{kind}|{value}')}",
         "pattern": pattern_for(kind, value), "pattern_type": "stix"} for kind, value in parts]
    made += [_plain(objects[oid]) for oid in (f"{kind}--{key}" for kind in _SDO_KINDS) if oid in objects]
    refs = (observed or {}).get("object_refs") or []
    if source.parts is None and refs and (not parts or "|" in source.misp_type):  # composites: parts related
        made += [_plain(objects[ref]) for ref in refs if ref in objects]
    context = objects.get(f"x-misp-attribute--{key}")
    if context is not None and not made:
        made.append({"type": "note", "spec_version": "2.1", "id": f"note--{key}",
                     "abstract": f"MISP {source.misp_type}",
                     "content": str(context.get("x_misp_value", "")), "object_refs": [report_id]})
    return made


def _report(event: dict[str, Any], report_id: str, refs: list[str], links: list[str]) -> dict[str, Any]:
    """The event as a STIX report of what is shared from it: its links as external references, its date.
    Not its title or comments (they may name the provider or a victim)."""
    date = event.get("date") if isinstance(event.get("date"), str) and _DATE.match(event["date"]) else "1970-01-01"
    report: dict[str, Any] = {"type": "report", "spec_version": "2.1", "id": report_id, "name": "MISP event",
                              "report_types": ["threat-report"], "published": f"{date}T00:00:00Z",
                              "object_refs": list(dict.fromkeys(refs))}
    urls = [u for u in dict.fromkeys(links) if u]
    if urls:
        report["external_references"] = [{"source_name": LINK_SOURCE, "url": url} for url in urls]
    return report


def parse_misp(document: Any, plain: bool = True, drop: frozenset[str] = frozenset()) -> Parsed:
    """MISP events -> items; `plain=False` sends every attribute through misp-stix (tests compare);
    `drop`: STIX types the operator does not share."""
    parsed = Parsed("misp")
    for index, wrapper in enumerate(_events(document)):
        event = wrapper.get("Event") if isinstance(wrapper, dict) else None
        where_event = f"event {event.get('uuid', index)}" if isinstance(event, dict) else f"events[{index}]"
        if not isinstance(event, dict):
            parsed.problems.append(Problem(where_event, Reason.MALFORMED, "expected {\"Event\": {...}}"))
            continue
        if not _list(event.get("Attribute")) and not any(_list(o.get("Attribute"))
                                                         for o in _dicts(event.get("Object"))):
            parsed.problems.append(Problem(where_event, Reason.EMPTY, "the event has no attributes"))
            continue
        converted = _convert(event, where_event, plain, drop)
        parsed.items += converted.items
        parsed.problems += converted.problems
        parsed.sightings += converted.sightings
    return parsed
