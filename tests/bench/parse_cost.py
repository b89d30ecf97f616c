"""The intake's cost per object (µs), this tree against an earlier commit, on the same inputs in one run.

Each tree parses and normalises (streams.core: the normalize agent's work, no Kafka) the benchmark's
submissions (STIX, MISP, CSV of tests/bench/data.py) in a subprocess of its own; the two alternate,
`--rounds` times, and the best round of each counts (CPU time of the process: the machine is shared). The earlier
tree comes from `git archive REV streams schemas`. Prints JSON: µs per object per format and overall,
and the change in per cent.

    .venv/bin/python -m tests.bench.parse_cost --before 7712735 --objects 20000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from streams.settings import ROOT

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
from streams.core.formats import Limits, parse_submission
from streams.core.normalize import normalize
from tests.bench.data import csv_file, indicators, misp_event, stix_bundle
items = indicators(int(sys.argv[3]))
limits = Limits(32 << 20, 1 << 20, 64)
out = {}
for name, make in (("stix", stix_bundle), ("misp", misp_event), ("csv", csv_file)):
    payload = make(items)
    envelope = {"submission_id": "b", "submitter": "bench", "received_at": 1, "tlp": "green", "sectors": [],
                "recipients": []}
    started = time.process_time()  # CPU time: the machine is shared, wall time is not ours
    parsed = parse_submission(payload, "auto", name, limits)
    result = normalize(envelope, parsed, "m-bench")
    out[name] = (time.process_time() - started) * 1e6 / len(items)
    assert len(result.records) > 0.6 * len(items), (name, len(result.records))
print(json.dumps(out))
"""


def _tree(rev: str, into: Path) -> Path:
    """streams/ and schemas/ of `rev`, extracted under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "streams", "schemas"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _measure(tree: Path, objects: int) -> dict[str, float]:
    run = subprocess.run([sys.executable, "-c", _CHILD, str(tree), str(ROOT), str(objects)], check=True,
                         capture_output=True, text=True, cwd=tree)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="HEAD~1", help="the earlier commit to compare with")
    parser.add_argument("--objects", type=int, default=20_000, help="indicators per submission")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each tree counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before_tree = _tree(args.before, Path(tmp))
        rounds: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            rounds["before"].append(_measure(before_tree, args.objects))
            rounds["after"].append(_measure(ROOT, args.objects))
    best = {side: {fmt: min(r[fmt] for r in runs) for fmt in runs[0]} for side, runs in rounds.items()}
    for side in best:
        best[side]["all"] = sum(best[side].values()) / 3
    change = {fmt: round(100 * (best["after"][fmt] / best["before"][fmt] - 1), 1) for fmt in best["after"]}
    print(json.dumps({"before": args.before, "objects": args.objects, "us_per_object": best,
                      "change_percent": change}, indent=2))


if __name__ == "__main__":
    main()
