"""R8 at scale, in the match agent's own code (streams.core.vuln_match + vuln_notice), in process:

- a day of NVD changes (new and modified CVE records) against 10,000 members x 50 assets: the
  time from an advisory's arrival to its notices rendered for every member concerned (p50/p99);
- a full catalogue (~300,000 CVEs) against one member's new list of 50 assets: the time from each
  asset's arrival to its back-matched notices, and the memory the catalogue and the index take.

Synthetic data shaped like NVD's: products drawn with a Zipf-like skew (a few products in many
members' estates, as log4j or Windows are), 1-4 cpeMatch entries per CVE, two thirds ranges and
one third exact versions, 1 in 20 entries a wildcard that must never match. What crosses Kafka
is measured end to end by tests/integration/test_vulns.py (the three triggers); this measures the
part that grows with members and catalogue size.
`python -m tests.bench.vulns` runs it alone; `python -m tests.bench --only vulns` within make bench.
"""
from __future__ import annotations

import gc
import random
import time
from pathlib import Path
from typing import Any

from streams.core.vuln_match import Asset, Catalogue
from streams.core.vuln_model import Advisory, Affected, Software, asset_id
from streams.core.vuln_notice import epoch_time, render, vulnerability_objects

HUB = "identity--00000000-0000-5000-8000-000000000000"
# Advisories spread over many products (u^1.5: the top 1 % of 100,000 products get ~5 % of CVE entries,
# as the Linux kernel, Windows and browsers do in NVD); members' estates concentrate on popular products
# (u^3: the top 1 % of products make ~22 % of assets). Both at u^3 is a worst case: every day a log4j.
CVE_SKEW, ASSET_SKEW = 1.5, 3.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _products(rng: random.Random, count: int) -> list[tuple[str, str]]:
    return [(f"vendor{rng.randrange(count // 4)}", f"product{i}") for i in range(count)]


def _pick(rng: random.Random, products: list[tuple[str, str]], skew: float) -> tuple[str, str]:
    """Zipf-like: index ~ n * u^skew puts most picks on the first few percent of products."""
    return products[int(len(products) * rng.random() ** skew)]


def _version(rng: random.Random) -> str:
    return f"{rng.randrange(1, 12)}.{rng.randrange(0, 20)}.{rng.randrange(0, 30)}"


def _advisory(rng: random.Random, number: int, products: list[tuple[str, str]], modified: str) -> Advisory:
    affected = []
    for _ in range(rng.randrange(1, 5)):
        vendor, product = _pick(rng, products, CVE_SKEW)
        shape = rng.random()
        if shape < 0.05:
            affected.append(Affected(vendor, product))  # a wildcard entry: never matches by itself
        elif shape < 0.70:
            low, high = sorted([_version(rng), _version(rng)], key=lambda v: tuple(map(int, v.split("."))))
            affected.append(Affected(vendor, product, start=low if rng.random() < 0.5 else "", end=high))
        else:
            affected.append(Affected(vendor, product, _version(rng)))
    cve = f"CVE-{2000 + number % 26}-{number:07d}"
    return Advisory("nvd", cve, cves=[cve], description={"en": f"synthetic record {number}"},
                    cvss={"version": "3.1", "score": round(rng.uniform(1, 10), 1), "vector": "", "severity": ""},
                    published="2026-11-30T00:00:00.000", modified=modified, affected=affected)


def _assets(rng: random.Random, org: str, products: list[tuple[str, str]], count: int) -> list[Asset]:
    out = []
    for _ in range(count):
        vendor, product = _pick(rng, products, ASSET_SKEW)
        software = Software(vendor, product, _version(rng))
        out.append(Asset(org, asset_id(org, software), software))
    return out


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.50), 3), "p99_ms": round(pick(0.99), 3), "max_ms": round(ordered[-1] * 1000, 3)}


def _deliver(catalogue: Catalogue, decisions: list[Any], now_ms: int) -> int:
    """As the agent delivers: each vulnerability's objects made once, then each member's notice."""
    objects, shared = 0, {}
    for decision in decisions:
        if decision.vulnerability not in shared:
            view = catalogue.view(decision.vulnerability)
            common = vulnerability_objects(view, HUB, epoch_time(now_ms)) if view else []
            shared[decision.vulnerability] = (view, common)
        view, common = shared[decision.vulnerability]
        objects += len(render(decision, view, HUB, now_ms, common)) if view else 0
    return objects


def run_day(members: int, assets_per: int, day: int, products: int, seed: int = 7) -> dict[str, Any]:
    """A day of NVD changes (half new records, half new versions of known ones) against every member's assets."""
    rng = random.Random(seed)
    pool = _products(rng, products)
    catalogue = Catalogue()
    before = rss_mib()
    started = time.perf_counter()
    for number in range(members):
        for asset in _assets(rng, f"m{number:05d}", pool, assets_per):
            catalogue.put_asset(asset)
    indexed_s = time.perf_counter() - started
    index_mib = rss_mib() - before
    known = [_advisory(rng, n, pool, "2026-11-29T00:00:00.000") for n in range(day // 2)]
    for advisory in known:
        catalogue.put_advisory(advisory)
    changes = [_advisory(rng, day // 2 + n, pool, "2026-11-30T00:00:00.000") for n in range(day - day // 2)]
    changes += [_advisory(rng, n, pool, "2026-11-30T12:00:00.000") for n in range(day // 2)]  # modified records
    rng.shuffle(changes)
    latencies, notices, objects = [], 0, 0
    gc.collect()
    for advisory in changes:
        started = time.perf_counter()
        decisions = catalogue.put_advisory(advisory)
        objects += _deliver(catalogue, decisions, 1_796_000_000_000)
        latencies.append(time.perf_counter() - started)
        notices += len(decisions)
    return {"members": members, "assets": members * assets_per, "advisories": len(changes), "notices": notices,
            "stix_objects": objects, "index_build_s": round(indexed_s, 1), "index_rss_mib": round(index_mib),
            **_percentiles(latencies)}


def run_catalogue(catalogue_size: int, assets: int, products: int, seed: int = 11) -> dict[str, Any]:
    """A full catalogue held in memory, and one member's new asset list back-matched against it."""
    rng = random.Random(seed)
    pool = _products(rng, products)
    catalogue = Catalogue()
    advisories = [_advisory(rng, number, pool, "2026-11-30T00:00:00.000") for number in range(catalogue_size)]
    before = rss_mib()  # the records themselves are in memory already (the agent holds them too)
    started = time.perf_counter()
    for advisory in advisories:
        catalogue.put_advisory(advisory)
    load_s = time.perf_counter() - started
    held_mib = rss_mib() - before
    latencies, notices = [], 0
    gc.collect()
    for asset in _assets(rng, "newcomer", pool, assets):
        started = time.perf_counter()
        decisions = catalogue.put_asset(asset)
        _deliver(catalogue, decisions, 1_796_000_000_000)
        latencies.append(time.perf_counter() - started)
        notices += len(decisions)
    return {"advisories": catalogue_size, "load_s": round(load_s, 1), "catalogue_rss_mib": round(held_mib),
            "new_assets": assets, "notices": notices, "list_total_ms": round(sum(latencies) * 1000, 1),
            **_percentiles(latencies)}


def run_vulns(members: int = 10_000, assets_per: int = 50, day: int = 2_000, catalogue_size: int = 300_000,
              products: int = 100_000, workdir: Path | None = None) -> dict[str, Any]:
    return {"day": run_day(members, assets_per, day, products),
            "catalogue": run_catalogue(catalogue_size, assets_per, products), "peak_rss_mib": round(rss_mib())}


if __name__ == "__main__":
    from tests.harness import standalone

    standalone(__doc__, run_vulns, members=10_000, assets_per=50, day=2_000, catalogue_size=300_000, products=100_000)
