"""TAXII store paging at scale: N indicator objects in one collection (SQLite by default, or
`--store-url postgresql://...`), then the time to fetch a page at the start, the middle and the
end of the collection, by `next` and by `added_after`. Keyset paging keeps the three equal; an
OFFSET scan would grow with the position. No Kafka: the store alone, filled as the materialiser
fills it.
"""
from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

import orjson

from connectors.taxii.store import ObjectStore, Query


def _objects(start: int, count: int) -> list[tuple[str, bytes]]:
    return [("bench", orjson.dumps({
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=i)}",
        "created": "2025-05-01T00:00:00.000Z", "modified": "2025-05-01T00:00:00.000Z", "confidence": 40,
        "pattern": f"[domain-name:value = 'host{i:x}.example.com']", "pattern_type": "stix",
        "valid_from": "2025-05-01T00:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}))
        for i in range(start, start + count)]


def _median_ms(store: ObjectStore, query: Query, repeat: int) -> float:
    """Median wall time of fetching one page, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        store.page("bench", query)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run_taxii_store(workdir: Path, n: int = 1_000_000, page: int = 1000, store_url: str = "",
                    chunk: int = 50_000, repeat: int = 30) -> dict:
    store = ObjectStore(store_url or f"sqlite:///{workdir / 'taxii.db'}")
    started = time.monotonic()
    for base in range(0, n, chunk):
        store.add(_objects(base, min(chunk, n - base)), {})
    load_s = time.monotonic() - started
    # Walk the whole collection as a client would, timing every page.
    page_ms, token, seen = [], None, 0
    walk_started = time.monotonic()
    while True:
        started = time.perf_counter()
        result = store.page("bench", Query(limit=page, next=token))
        page_ms.append((time.perf_counter() - started) * 1000)
        seen += len(result.rows)
        if not result.more:
            last_page = (token, result.rows[0].added - 1)  # the same page by `next` and by `added_after`
            break
        token = result.next
    walk_s = time.monotonic() - walk_started
    assert seen == n, f"walked {seen} of {n} objects"
    ends = max(1, len(page_ms) // 50)
    figures = {"objects": n, "page": page, "store": store.dialect, "load_s": load_s, "load_per_s": n / load_s,
               "walk_s": walk_s, "objects_per_s_paged": n / walk_s,
               "first_pages_ms_median": statistics.median(page_ms[:ends]),
               "last_pages_ms_median": statistics.median(page_ms[-ends:]),
               "last_page_by_next_ms": _median_ms(store, Query(limit=page, next=last_page[0]), repeat),
               "last_page_by_added_after_ms": _median_ms(store, Query(limit=page, added_after=last_page[1]), repeat)}
    figures["last_over_first"] = figures["last_pages_ms_median"] / figures["first_pages_ms_median"]
    if store.dialect == "sqlite":
        figures["disk_mib"] = sum(f.stat().st_size for f in workdir.glob("taxii.db*")) / 2**20
    store.close()
    return figures


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_taxii_store, n=1_000_000, page=1000, store_url="")
