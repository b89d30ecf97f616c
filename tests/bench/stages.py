"""Where the time goes: µs per indicator of each stage of the pipeline, run in-process on the benchmark's own
submissions with the real code of each stage (no broker), with the worker's garbage-collector settings.

Stages: parse (reading the formats, canonicalisation included), canonicalise (that part alone, on the same
values), normalise (scope, pseudonym, warning lists, in-submission duplicates), encode (Avro batches, written
and read back), merge (fold and score), render (STIX JSON of each publication), state (state JSON written to
and read from RocksDB).

Steps: the two agents' steps exactly as the worker runs them (streams.agents: Normalize.process and publish
on signed intake messages, Merge.handle on what that published, a RocksDB store, publishing to a sink),
which is what the stages add up to plus the agents' own code (metrics, audit trails, the changelog).
`framework` in the report is what the end-to-end pipeline figure of the same run costs beyond the steps
(Faust, aiokafka, librdkafka, the executor thread). `python -m tests.bench.stages` prints the figures of
whichever core is active: KIZUNA_NATIVE=0 gives the reference Python's.
"""
from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from rocksdict import Rdict

from streams import native
from streams.agents.base import Context, in_steps
from streams.agents.merge import Merge
from streams.agents.normalize import Normalize
from streams.cli import WORKER_GC_THRESHOLDS
from streams.core import canonical
from streams.core.formats import Limits, parse_submission
from streams.core.merge import Policy, changes, fold, mark_published, upgrade
from streams.core.normalize import batches, normalize
from streams.core.reputation import Book
from streams.core.stix_out import encode, hub_identity_id, render
from streams.records import batch_codec
from streams.reputation_feed import ReputationFeed
from streams.settings import Settings
from streams.state import MergeStores
from streams.topics import Topics
from streams.warninglist_cache import load_shared
from tests.agents.base import MEMBERS_FILE, NOW_MS
from tests.agents.test_normalize import signed
from tests.bench.data import indicators, submissions


class _Sink:
    """A publisher that only keeps what the merge step reads next."""

    def __init__(self, keep: str) -> None:
        self.keep, self.kept = keep, []

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, partition: int | None = None) -> None:
        if topic == self.keep:
            self.kept.append((partition or 0, value or b""))

    async def flush(self, timeout: float = 60.0) -> None:
        pass


def run_steps(inputs: list[tuple[str, bytes, int]], n: int) -> dict[str, float]:
    """µs per indicator of the normalize and merge agents' steps, as the worker runs them."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(namespace="bench", pseudonym_key="bench", members_file=MEMBERS_FILE, var_dir=Path(tmp),
                            store="rocksdb", warninglists=True, partitions=4)
        topics = Topics(settings.namespace)
        raws = [signed(settings, "acme", payload, f"s{i}.{fmt}", tlp="green") for i, (fmt, payload, _) in
                enumerate(inputs)]
        sink = _Sink(topics.indicators)
        normalize_step = Normalize(Context(settings, sink, clock=lambda: NOW_MS))
        for raw in raws[:6]:  # imports and caches warm, as in a running worker
            normalize_step.process(raw)
        started = time.perf_counter()
        for raw in raws:
            normalize_step.publish(*normalize_step.process(raw))
        normalized = time.perf_counter() - started
        context = Context(settings, _Sink(""), clock=lambda: NOW_MS)
        stores = MergeStores(settings, topics.merge_state, changelog=lambda partition: [])
        merge_step = Merge(context, stores, ReputationFeed(settings, topics.reputation))

        async def merge_all() -> float:
            for partition in range(settings.partitions):
                await stores.ready(partition)
            begun = time.perf_counter()
            events = [SimpleNamespace(partition=partition, value=value) for partition, value in sink.kept]
            for i in range(0, len(events), settings.take_max):  # batches as Faust takes them, in steps
                for part in in_steps(events[i:i + settings.take_max], settings.step_bytes):
                    await merge_step.handle([(event.partition, event.value) for event in part])
            return time.perf_counter() - begun

        merged = asyncio.run(merge_all())
        stores.forget(set(range(settings.partitions)))
    return {"normalize": normalized / n * 1e6, "merge": merged / n * 1e6}


def run_stages(n: int, cache_dir: Path | None = None) -> dict[str, Any]:
    gc.set_threshold(*WORKER_GC_THRESHOLDS)  # as in the worker
    settings = Settings()
    limits = Limits.of(settings)
    warnings = load_shared(cache_dir or settings.warninglist_cache)
    items = indicators(n)
    inputs = submissions(items)
    seconds: dict[str, float] = {}

    def timed(stage: str, work: Any) -> Any:
        started = time.perf_counter()
        result = work()
        seconds[stage] = time.perf_counter() - started
        return result

    for fmt, payload, _ in inputs[:6]:  # imports and caches warm, as in a running worker
        parse_submission(payload, fmt, None, limits)
    parsed = timed("parse", lambda: [parse_submission(payload, fmt, None, limits) for fmt, payload, _ in inputs])
    timed("canonicalise", lambda: [canonical.canonicalize(kind, value) for kind, value in items])
    seconds["parse"] -= seconds["canonicalise"]
    envelopes = [{"submission_id": f"s{i}", "submitter": "bench", "received_at": 1_700_000_000_000 + i,
                  "format": fmt, "filename": None, "tlp": "green", "sectors": [], "payload": b""}
                 for i, (fmt, _, _) in enumerate(inputs)]
    normalised = timed("normalise", lambda: [normalize(env, p, "m-bench", "green", warnings)
                                             for env, p in zip(envelopes, parsed)])
    codec = batch_codec()
    out = [batch for result in normalised for _, batch in batches(result, 4, settings.batch_records)]
    decoded = timed("encode", lambda: [codec.decode(codec.encode(batch)) for batch in out])
    policy, hub = Policy(settings.confirm_threshold, settings.republish_step), hub_identity_id(settings.hub_name)
    book = Book()  # no history: every reporter a newcomer

    def merge() -> list[tuple[dict[str, Any], list[Any]]]:
        states: dict[str, dict[str, Any]] = {}
        for batch in decoded:
            for record in batch["records"]:
                states[record["id"]] = fold(states.get(record["id"]), record, batch)
        done = []
        for state in states.values():
            pubs = changes(state, book, policy)
            mark_published(state, pubs)
            done.append((state, pubs))
        return done

    merged = timed("merge", merge)
    timed("render", lambda: [encode(render(state, pub, hub)) for state, pubs in merged for pub in pubs])
    with tempfile.TemporaryDirectory() as tmp:
        db = Rdict(str(Path(tmp) / "state"))

        def state_io() -> None:
            for state, _ in merged:
                key = state["id"].encode()
                raw = db.get(key)
                upgrade(orjson.loads(raw)) if raw is not None else None
                db[key] = orjson.dumps(state)

        timed("state", state_io)
        db.close()
    steps = run_steps(inputs, n)
    return {"indicators": n, "records": len(merged), "compiled": native.compiled(),
            "us_per_indicator": {stage: s / n * 1e6 for stage, s in seconds.items()},
            "steps_us_per_indicator": steps, "total_us_per_indicator": sum(steps.values())}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run_stages(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000), indent=2))
