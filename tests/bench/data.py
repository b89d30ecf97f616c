"""Deterministic synthetic indicators and realistic submissions for the benchmarks."""
from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator

import orjson

KINDS = ("ipv4-addr", "domain-name", "url", "file-sha256", "file-md5")
_TLDS = ("com", "net", "org", "jp", "co.jp", "info", "io")


def _value(rng: random.Random, kind: str, n: int) -> str:
    if kind == "ipv4-addr":
        return f"{rng.choice((45, 89, 103, 185, 193))}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    label = f"{rng.choice(('upd', 'cdn', 'login', 'mail', 'sync'))}{n:x}{rng.randrange(1 << 20):x}"
    if kind == "domain-name":
        return f"{label}.{rng.choice(_TLDS)}"
    if kind == "url":
        return f"http://{label}.{rng.choice(_TLDS)}/{rng.choice(('gate.php', 'a/b', 'dl'))}?id={n}"
    digest = uuid.UUID(int=rng.getrandbits(128)).hex
    return (digest * 2) if kind == "file-sha256" else digest


def indicators(n: int, duplicate_share: float = 0.3, seed: int = 7) -> list[tuple[str, str]]:
    """n (kind, value) pairs of which `duplicate_share` repeat earlier ones."""
    rng = random.Random(seed)
    distinct = int(n * (1 - duplicate_share))
    unique = [(kind, _value(rng, kind, i)) for i, kind in enumerate(rng.choice(KINDS) for _ in range(distinct))]
    repeats = [unique[rng.randrange(distinct)] for _ in range(n - distinct)]
    items = unique + repeats
    rng.shuffle(items)
    return items


_MISP_TYPES = {"ipv4-addr": "ip-dst", "domain-name": "domain", "url": "url", "file-sha256": "sha256", "file-md5": "md5"}
_PATHS = {"ipv4-addr": "ipv4-addr:value", "domain-name": "domain-name:value", "url": "url:value",
          "file-sha256": "file:hashes.'SHA-256'", "file-md5": "file:hashes.MD5"}
GREEN_V2 = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def _uuid4s(items: list[tuple[str, str]]) -> Iterator[uuid.UUID]:
    """Random-looking but reproducible object ids: the same items give the same submission."""
    rng = random.Random(repr(items[:2]) + str(len(items)))
    while True:
        yield uuid.UUID(int=rng.getrandbits(128), version=4)


def stix_bundle(items: list[tuple[str, str]]) -> bytes:
    ids = _uuid4s(items)
    objects = [{
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{next(ids)}",
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
        "pattern": f"[{_PATHS[kind]} = '{value}']", "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
        "indicator_types": ["malicious-activity"], "object_marking_refs": [GREEN_V2],
    } for kind, value in items]
    return orjson.dumps({"type": "bundle", "id": f"bundle--{next(ids)}", "objects": objects})


def misp_event(items: list[tuple[str, str]]) -> bytes:
    ids = _uuid4s(items)
    attributes = [{"uuid": str(next(ids)), "type": _MISP_TYPES[kind], "value": value, "to_ids": True,
                   "category": "Network activity"} for kind, value in items]
    return orjson.dumps({"Event": {"uuid": str(next(ids)), "info": "bench", "Tag": [{"name": "tlp:green"}],
                                   "Attribute": attributes}})


def csv_file(items: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["type", "value"])
    writer.writerows(items)
    return out.getvalue().encode()


FORMATS = (("stix", stix_bundle, 1000), ("misp", misp_event, 1000), ("csv", csv_file, 2000))


def submissions(items: list[tuple[str, str]]) -> list[tuple[str, bytes, int]]:
    """Split into bundles, MISP events and CSV files in turn: (format, payload, indicator count)."""
    out, start, turn = [], 0, 0
    while start < len(items):
        fmt, build, size = FORMATS[turn % len(FORMATS)]
        chunk = items[start:start + size]
        out.append((fmt, build(chunk), len(chunk)))
        start, turn = start + size, turn + 1
    return out
