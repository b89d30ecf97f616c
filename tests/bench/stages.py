"""Where the time goes: µs per indicator of each stage of the pipeline, run in-process on the benchmark's own
submissions with the real code of each stage (no broker). `framework` in the report is what the end-to-end
pipeline figure of the same run costs beyond the sum of these stages (Faust, aiokafka, Kafka round trips).

Stages: parse (reading the formats, canonicalisation included), canonicalise (that part alone, on the same
values), normalise (scope, pseudonym, warning lists, in-submission duplicates), encode (Avro batches, written
and read back), merge (fold and score), render (STIX JSON of each publication), state (state JSON written to
and read from RocksDB).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Rdict

from streams.core import canonical
from streams.core.formats import Limits, parse_submission
from streams.core.merge import Policy, changes, fold, mark_published, upgrade
from streams.core.normalize import batches, normalize
from streams.core.reputation import Book
from streams.core.stix_out import encode, hub_identity_id, render
from streams.records import batch_codec
from streams.settings import Settings
from streams.warninglist_cache import load_shared
from tests.bench.data import indicators, submissions


def run_stages(n: int, cache_dir: Path | None = None) -> dict[str, Any]:
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
    return {"indicators": n, "records": len(merged),
            "us_per_indicator": {stage: s / n * 1e6 for stage, s in seconds.items()},
            "total_us_per_indicator": sum(seconds.values()) / n * 1e6}


if __name__ == "__main__":
    import json

    print(json.dumps(run_stages(20_000), indent=2))
