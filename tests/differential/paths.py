"""Everything the compiled modules compute, on real and random input, as JSON lines.

`python -m tests.differential.paths OUT` runs whichever path is active (compiled, or with
KIZUNA_NATIVE=0 the reference Python) and writes one line per result; test_native.py runs it
both ways and compares the files. Inputs:
- real: every file of the public corpus (tests/corpus/), parsed, normalised and batched as the
  worker does, and each file damaged (truncated, bytes flipped) for the error paths;
- random: the benchmark's submissions (STIX, MISP, CSV) of seeded random indicators;
- merge: the normalised corpus and random reports, feedback and withdrawals from eight members
  at every level, sector and recipient, folded, scored, published and rendered, the reputation
  book learning from the outcomes; and a seeded adversarial community of `make eval-scoring`.
"""
from __future__ import annotations

import random
import sys
from typing import Any

import orjson
import yaml

from streams import native
from streams.core.confidence import Signal, backing_groups, confidence, disputed
from streams.core.formats import parse_submission
from streams.core.merge import Policy, changes, fold, fold_feedback, mark_published, outcomes, upgrade, withdraw
from streams.core.normalize import batches, normalize
from streams.core.reputation import Book
from streams.core.stix_out import encode, hub_identity_id, render
from streams.intake import envelope
from streams.tlp import TLP
from tests.bench.data import indicators, submissions
from tests.eval import intake, scoring

MEMBERS = [f"m{i}" for i in range(8)]
LEVELS = [level.slug for level in TLP if level is not TLP.RED]
SECTORS = [[], [], ["energy"], ["finance", "energy"]]
POLICY = Policy()
HUB = hub_identity_id("differential")


def _damaged(payload: bytes, rng: random.Random) -> list[bytes]:
    cut = payload[: rng.randrange(1, max(2, len(payload)))]
    flipped = bytearray(payload)
    for _ in range(8):
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
    return [cut, bytes(flipped)]


def _inputs(rng: random.Random) -> list[tuple[str, bytes, str, dict[str, Any]]]:
    """(name, payload, filename, manifest entry): the corpus, its damaged copies, random submissions."""
    manifest = yaml.safe_load((intake.CORPUS / "manifest.yaml").read_text())
    found = []
    for path in sorted(p for p in intake.CORPUS.rglob("*") if p.is_file() and p.suffix in (".json", ".gz", ".adoc")):
        name = str(path.relative_to(intake.CORPUS))
        payload, filename, entry = intake._payload(path), path.name.removesuffix(".gz"), intake._entry(manifest, name)
        found.append((name, payload, filename, entry))
        found += [(f"{name} damaged {i}", bad, filename, entry) for i, bad in enumerate(_damaged(payload, rng))]
    for i, (fmt, payload, _) in enumerate(submissions(indicators(3000, seed=11))):
        found.append((f"random {i}", payload, f"random-{i}.{fmt}", {"tlp": "green"}))
    return found


def _line(out: Any, kind: str, name: str, value: Any) -> None:
    out.write(orjson.dumps({"kind": kind, "name": name, "value": value},
                           option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr) + b"\n")


def _merge(out: Any, reports: list[dict[str, Any]], rng: random.Random) -> None:
    """Reports (normalised records) from random members, scopes and times, with feedback and withdrawals."""
    book, states = Book(), {}
    for step, record in enumerate(reports):
        key, at = record["id"], 1_700_000_000_000 + step * 60_000
        member, level = rng.choice(MEMBERS), rng.choice(LEVELS)
        recipients = rng.choice([[], [], [], ["acme"]])
        batch = {"submission_id": f"s{step}", "reporter": member, "sectors": rng.choice(SECTORS),
                 "observed_at": at, "recipients": recipients, "named": rng.choice([None, member])}
        state = fold(upgrade(states.get(key)), {**record, "tlp": level}, batch)
        for n in range(rng.choice([0, 0, 1, 3])):
            fold_feedback(state, {"feedback_id": f"f{step}-{n}", "id": key, "member": rng.choice(MEMBERS),
                                  "kind": rng.choice(["sighting", "confirm", "false-positive"]),
                                  "count": rng.randrange(1, 5), "tlp": rng.choice(LEVELS), "observed_at": at + n})
        if rng.random() < 0.05:
            withdraw(state, rng.choice(MEMBERS), at + 10)
        states[key] = orjson.loads(orjson.dumps(state))  # as stored: JSON, as the worker's state store
        pubs = changes(state, book, POLICY)
        mark_published(state, pubs)
        events = outcomes(state, pubs)
        for event in events:
            book.apply(event)
        states[key] = state
        _line(out, "merge", key, {"rendered": [encode(render(state, pub, HUB)).decode() for pub in pubs],
                                  "statuses": [(pub.tier, pub.status, pub.digest) for pub in pubs],
                                  "events": events})
    for key in sorted(states):
        _line(out, "state", key, states[key])
    weights = {m: [book.weight(m, level) for level in TLP] for m in MEMBERS}
    _line(out, "book", "weights", weights)


def _community(out: Any) -> None:
    c = scoring.build("sleeper", 3)
    kizuna = scoring.Kizuna(scoring.WarningIndex([("benign", "hostname", c.known_benign)]), c.vouched)
    for seq, event in enumerate(c.events):
        kizuna.apply(event, seq)
    _line(out, "community", "scores", {value: kizuna.score(value) for value in sorted(c.truth)})
    _line(out, "community", "general", dict(sorted(kizuna.general.items())))


def _signals(out: Any, rng: random.Random) -> None:
    for i in range(2000):
        signals = [Signal(rng.choice(MEMBERS), rng.choice(["report", "sighting", "confirm", "false-positive"]),
                          rng.random(), rng.randrange(0, 10 ** 11), rng.randrange(1, 50), rng.choice(["", "g1", "g2"]),
                          rng.choice([1.0, 0.5])) for _ in range(rng.randrange(1, 12))]
        now = max(s.at_ms for s in signals) + rng.randrange(0, 10 ** 10)
        _line(out, "confidence", str(i), [confidence(signals, rng.random() < 0.1, rng.choice(["url", None]), now),
                                          backing_groups(signals), disputed(signals)])


def main(path: str) -> None:
    rng = random.Random(2026)
    reports: list[dict[str, Any]] = []
    with open(path, "wb") as out:
        _line(out, "path", "compiled", native.compiled())
        for name, payload, filename, entry in _inputs(rng):
            parsed = parse_submission(payload, "auto", filename, intake.LIMITS)
            submission = {**envelope("differential", payload, "auto", filename, entry.get("tlp"),
                                     received_at=1_700_000_000_000,
                                     override_distribution=bool(entry.get("override_distribution"))),
                          "submission_id": name}  # deterministic, as the output is compared across processes
            result = normalize(submission, parsed, "m-differential")
            _line(out, "parse", name, [parsed.format, parsed.items, parsed.problems, parsed.tlp, parsed.sightings])
            _line(out, "normalize", name, [batches(result, 4, 500), result.rejections, result.skipped,
                                           result.feedback])
            reports += result.records[:400]
        _merge(out, reports, rng)
        _community(out)
        _signals(out, rng)


if __name__ == "__main__":
    main(sys.argv[1])
