"""Warning-list index: the reference (Python sets) against the compact memory-mapped file, each in a fresh
process: resident memory, start-up time, µs per lookup, and equal answers on every listed value of a sample."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r'''
import json, random, sys, time
from pathlib import Path

def rss_mib():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024

kind, cache = sys.argv[1], Path(sys.argv[2])
before, started = rss_mib(), time.perf_counter()
if kind == "reference":
    from streams.core.warninglists import WarningIndex, misp_lists
    index = WarningIndex(misp_lists())
else:
    from streams.warninglist_cache import load_shared
    index = load_shared(cache)
loaded = time.perf_counter() - started
rng = random.Random(5)
probes = [("domain-name", f"upd{i:x}.example{rng.randrange(99)}.co.jp") for i in range(20000)]
probes += [("ipv4-addr", f"{rng.choice((45, 89, 185))}.{rng.randrange(256)}.{rng.randrange(256)}.{i % 256}")
           for i in range(20000)]
probes += [("domain-name", d) for d in ("google.com", "www.microsoft.com", "dns.google")]
probes += [("ipv4-addr", a) for a in ("8.8.8.8", "10.2.3.4", "1.1.1.1")]
t = time.perf_counter()
answers = [index.match(o, v) for o, v in probes]
per_lookup = (time.perf_counter() - t) / len(probes) * 1e6
json.dump({"load_s": loaded, "rss_mib": rss_mib() - before, "us_per_lookup": per_lookup, "answers": answers},
          sys.stdout)
'''


def run_warninglists(workdir: Path) -> dict:
    """Both indexes over the shipped lists; the compact file is built first (its build time reported)."""
    cache = workdir / "wl-cache"
    figures = {}
    for kind in ("build", "reference", "compact"):
        out = subprocess.run([sys.executable, "-c", _CHILD, "compact" if kind == "build" else kind, str(cache)],
                             check=True, capture_output=True, text=True).stdout
        figures[kind] = json.loads(out)
    same = figures["reference"].pop("answers") == figures["compact"].pop("answers")
    listed = sum(1 for a in figures["build"].pop("answers") if a)
    return {"build_s": figures["build"]["load_s"], "reference": figures["reference"], "compact": figures["compact"],
            "same_answers": same, "listed_probes": listed,
            "file_mib": sum(p.stat().st_size for p in cache.glob("*.bin")) / 2**20}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run_warninglists(Path(tmp)), indent=2))
