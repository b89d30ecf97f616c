"""`make eval-intake`: the real public files of tests/corpus/ through kizuna's own intake.

Each file goes through the hub's parser and normaliser (streams.core: the code the normalize
agent runs) as its manifest entry says (tests/corpus/manifest.yaml: --tlp, flags, known defects).
Printed per file and in total: objects in, carried, withdrawn (revoked or deleted by the
provider), skipped by reason (a documented policy, not an error), rejected by reason (a defect
of the object, said where).

Exit status 1 when a well-formed object is neither carried nor skipped: a rejection whose code
is not a defect of the input (DEFECTS) nor one the manifest expects for that file, or an
object with no outcome at all. `--json` prints the same figures for scripts.
"""
from __future__ import annotations

import argparse
import fnmatch
import gzip
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from rich.console import Console
from rich.table import Table

from streams import intake
from streams.core.formats import Limits, parse_submission
from streams.core.normalize import normalize

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# Rejections that say the object itself is defective; any other rejection of a corpus object is a failure.
DEFECTS = frozenset({"malformed", "invalid-value", "invalid-pattern", "too-large", "not-utf8", "empty"})
LIMITS = Limits(max_bytes=32 * 1024 * 1024, max_objects=250_000, max_depth=64)


@dataclass
class Outcome:
    file: str
    format: str = ""
    objects_in: int = 0
    carried: int = 0
    withdrawn: int = 0  # revoked (STIX) or deleted (MISP): the provider takes back what it shared before
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    unaccounted: int = 0
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "objects_in": self.objects_in, "carried": self.carried,
                "withdrawn": self.withdrawn, "records": self.records, "skipped": dict(self.skipped),
                "rejected": dict(self.rejected), "unaccounted": self.unaccounted, "failures": self.failures}


def _entry(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next((entry for pattern, entry in manifest["files"].items() if fnmatch.fnmatch(name, pattern)), {})


def _payload(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _sources(fmt: str, payload: bytes, filename: str) -> set[str] | None:
    """The `where` of every object the file holds, as the parsers name them; None when the parser
    itself is what finds them (CSV lines, report text)."""
    if fmt not in ("stix", "misp"):
        return None
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {filename}
    if fmt == "stix":
        objects = document.get("objects", []) if isinstance(document, dict) else document
        return {f"object {o['id']}" for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)}
    if fmt == "misp":
        events = document.get("response", [document]) if isinstance(document, dict) else document
        found = set()
        for wrapper in events:
            event = wrapper.get("Event", {})
            attributes = list(event.get("Attribute") or [])
            for obj in event.get("Object") or []:
                attributes += obj.get("Attribute") or []
            found |= {f"attribute {a.get('uuid') or a.get('id') or '?'}" for a in attributes}
        return found
    return None


def evaluate(path: Path, entry: dict[str, Any]) -> Outcome:
    name = str(path.relative_to(CORPUS))
    outcome = Outcome(name)
    payload = _payload(path)
    filename = path.name.removesuffix(".gz")
    parsed = parse_submission(payload, "auto", filename, LIMITS)
    outcome.format = parsed.format
    submission = intake.envelope("eval", payload, "auto", filename, entry.get("tlp"),
                                 override_distribution=bool(entry.get("override_distribution")))
    result = normalize(submission, parsed, "m-eval")
    outcome.records = len(result.records)
    dropped = {r["where"] for r in result.rejections + result.skipped}
    withdrawn = {item.where for item in parsed.items if item.withdraw} - dropped
    carried = {item.where for item in parsed.items if not item.withdraw} - dropped - withdrawn
    skipped = {r["where"] for r in result.skipped} - carried - withdrawn
    rejected = {r["where"] for r in result.rejections} - carried - skipped - withdrawn
    outcome.withdrawn = len(withdrawn)
    expected = entry.get("expected") or {}
    for record in result.skipped:
        if record["where"] in skipped:
            outcome.skipped[record["code"]] += 1
    for record in result.rejections:
        if record["where"] not in rejected:
            continue
        outcome.rejected[record["code"]] += 1
        if record["code"] not in DEFECTS and record["code"] not in expected:
            outcome.failures.append(f"{record['where']}: {record['reason']} [{record['code']}]")
    sources = _sources(parsed.format, payload, filename)
    if sources is None:
        outcome.objects_in = len(carried | withdrawn | skipped | rejected)
    else:
        outcome.objects_in = len(sources)
        missing = sources - carried - withdrawn - skipped - rejected
        outcome.unaccounted = len(missing)
        outcome.failures += [f"{where}: no outcome (neither carried, skipped nor rejected)"
                             for where in sorted(missing)]
    outcome.carried = len(carried & sources) if sources is not None else len(carried)
    return outcome


def _reasons(counts: Counter[str]) -> str:
    return ", ".join(f"{code} {n}" for code, n in counts.most_common()) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("paths", nargs="*", help="corpus files (default: all of tests/corpus/)")
    args = parser.parse_args(argv)
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
    paths = [Path(p).resolve() for p in args.paths] or sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".json", ".gz", ".csv", ".txt", ".adoc", ".md")
        and p.name not in ("README.md", "manifest.yaml") and not p.name.startswith("LICENSE"))
    outcomes = [evaluate(p, _entry(manifest, str(p.relative_to(CORPUS)))) for p in paths]
    total = Outcome("total", objects_in=sum(o.objects_in for o in outcomes), carried=sum(o.carried for o in outcomes),
                    withdrawn=sum(o.withdrawn for o in outcomes),
                    records=sum(o.records for o in outcomes), skipped=sum((o.skipped for o in outcomes), Counter()),
                    rejected=sum((o.rejected for o in outcomes), Counter()),
                    unaccounted=sum(o.unaccounted for o in outcomes),
                    failures=[f"{o.file}: {f}" for o in outcomes for f in o.failures])
    if args.json:
        sys.stdout.write(orjson.dumps({"files": [o.as_json() for o in outcomes], "total": total.as_json()},
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        table = Table(title="kizuna intake on the public corpus / 公開コーパスの取り込み結果")
        for column in ("file", "format", "in", "carried", "withdrawn", "skipped (policy)", "rejected (defect)",
                       "records"):
            table.add_column(column, justify="left" if column in ("file", "format") or "(" in column else "right")
        for o in [*outcomes, total]:
            table.add_row(o.file, o.format, str(o.objects_in), str(o.carried), str(o.withdrawn), _reasons(o.skipped),
                          _reasons(o.rejected), str(o.records))
        console = Console(width=200)
        console.print(table)
        for failure in total.failures[:50]:
            console.print(f"[red]not carried:[/] {failure}", markup=True, highlight=False)
        if len(total.failures) > 50:
            console.print(f"... and {len(total.failures) - 50} more")
    return 1 if total.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
