"""Merge state size: N distinct indicators folded into the RocksDB store the worker uses.

Measures the store alone (no Kafka), so millions of indicators take minutes, not
hours: disk bytes per million and the resident memory of this process.
"""
from __future__ import annotations

import time
from pathlib import Path

import orjson

from streams.core.canonical import indicator_id
from streams.core.merge import Policy, changes, fold, mark_published
from streams.core.reputation import Book
from streams.settings import Settings
from streams.state import MergeStores


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_state(n: int, workdir: Path, chunk: int = 10_000) -> dict:
    settings = Settings(namespace="statebench", var_dir=workdir, store="rocksdb")
    stores = MergeStores(settings, "unused")
    store = stores._open(0)  # one partition's store, as the worker opens it
    batch = {"submission_id": "s", "reporter": "m-bench", "sectors": [], "observed_at": 1_763_800_000_000}
    started, peak = time.monotonic(), 0.0
    for base in range(0, n, chunk):
        for i in range(base, min(n, base + chunk)):
            value = f"host{i:x}.example.com"
            record = {"id": indicator_id("domain-name", value), "stix_type": "indicator", "tlp": "green",
                      "observable": "domain-name", "value": value, "pattern": None, "indicator_types": [], "body": None}
            state = fold(None, record, batch)
            mark_published(state, changes(state, Book(), Policy()))
            store.put(record["id"].encode(), orjson.dumps(state))
        peak = max(peak, _rss_mib())
    elapsed = time.monotonic() - started
    store.close()
    disk = sum(f.stat().st_size for f in (workdir / "state").rglob("*") if f.is_file())
    return {"indicators": n, "seconds": elapsed, "per_s": n / elapsed, "disk_mib": disk / 2**20,
            "disk_mib_per_million": disk / 2**20 / n * 1e6, "peak_rss_mib": peak}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_state, n=1_000_000)
