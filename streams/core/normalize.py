"""Submission -> normalised records and rejections: scope resolved, submitter pseudonymised."""
from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from streams.core.items import Parsed, Problem, Reason, rejection
from streams.core.warninglists import Warnings
from streams.sectors import canonical_sector
from streams.tlp import TLP, parse_level


@lru_cache(maxsize=4096)  # a keyed hash per feedback item and submission, of a few hundred members
def pseudonym(secret: bytes, member: str) -> str:
    """Keyed hash of a member id: stable, so reputation accumulates, and not reversible without the key."""
    return "m-" + hmac.new(secret, member.encode(), hashlib.sha256).hexdigest()[:24]


def merge_partition(record_id: str, partitions: int) -> int:
    """The partition that owns a record's merge state; the same id always lands on the same one."""
    return zlib.crc32(record_id.encode()) % partitions


@dataclass(slots=True)
class Normalized:
    """Records of one submission; `context` holds what they share (reporter, sectors, time)."""

    context: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)  # defective: the submitter can fix them
    skipped: list[dict[str, Any]] = field(default_factory=list)  # left out by a documented policy, not errors
    feedback: list[dict[str, Any]] = field(default_factory=list)  # Feedback records from STIX Sightings

    def note(self, submission: dict[str, Any], reporter: str, fmt: str, problems: list[Problem]) -> None:
        """Problems as kizuna.rejected records, each on the list of its outcome."""
        for problem in problems:
            record = rejection(submission["submission_id"], submission["received_at"], reporter, fmt, problem)
            (self.skipped if problem.skipped else self.rejections).append(record)


def _scope(submission: dict[str, Any], member_tlp: str | None,
           known_recipient: Callable[[str], bool]) -> tuple[TLP | None, list[str], Problem | None]:
    """Submission-wide default level and sectors; an unknown one rejects all, never widens."""
    unknown = [r for r in submission.get("recipients") or [] if not known_recipient(r)]
    if unknown:
        return None, [], Problem("envelope", Reason.UNKNOWN_RECIPIENT,
                                 f"{len(unknown)} named recipient(s) are not members of this hub")
    default = None
    given: str | None = submission.get("tlp") or member_tlp
    if given:
        default = parse_level(given)
        if default is None:
            return None, [], Problem("envelope", Reason.NO_TLP, f"unknown TLP {submission['tlp']!r}")
    sectors = []
    for name in submission.get("sectors") or []:
        sector = canonical_sector(name)
        if sector is None:
            return None, [], Problem("envelope", Reason.UNKNOWN_SECTOR,
                                     f"unknown sector {name!r}; see `kizuna sectors` for the list")
        sectors.append(sector)
    return default, sorted(set(sectors)), None


def normalize(submission: dict[str, Any], parsed: Parsed, reporter: str, member_tlp: str | None = None,
              warnings: Warnings | None = None, named: str | None = None,
              known_recipient: Callable[[str], bool] = lambda _: True) -> Normalized:
    """`member_tlp`: the member's default TLP, used when the submission names none; `named`: its
    display name if it consented to be named; `known_recipient`: is a named recipient a member."""
    out = Normalized()
    default, sectors, problem = _scope(submission, member_tlp, known_recipient)
    recipients = sorted(set(submission.get("recipients") or []))
    out.context = {"submission_id": submission["submission_id"], "reporter": reporter, "sectors": sectors,
                   "observed_at": submission["received_at"], "recipients": recipients, "named": named}
    if problem is not None:
        out.note(submission, reporter, parsed.format, [problem, *parsed.problems])
        return out
    out.note(submission, reporter, parsed.format, parsed.problems)
    stated = parse_level(submission["tlp"]) if submission.get("tlp") else None
    override = bool(submission.get("override_distribution"))
    by_id: dict[str, dict[str, Any]] = {}
    withdrawn: dict[str, dict[str, Any]] = {}
    for item in parsed.items:
        if item.withdraw:  # taking back never widens scope: no TLP or distribution rule applies
            withdrawn.setdefault(item.id, withdrawal(item.id, item.stix_type))
            continue
        own = item.tagged if item.audience and override and stated is not None else item.tlp
        # the object's own marking wins, then the document's; --tlp applies to all else (TLP.CLEAR is 0: no `or`)
        level = next((lvl for lvl in (own, parsed.tlp, default) if lvl is not None), None)
        if level is None:
            problem = Problem(item.where, Reason.NO_TLP, "no TLP marking, tag or --tlp; kizuna never guesses one")
        elif item.audience and not override and stated is not None and stated < TLP.RED and not recipients:
            problem = Problem(item.where, Reason.DISTRIBUTION, f"the MISP {item.audience} is narrower than "
                              f"--tlp {stated.slug}: submit with --override-distribution to share it at "
                              f"TLP:{stated.slug.upper()} anyway, or name its recipients with --to")
        elif level is TLP.RED and not recipients:
            problem = Problem(item.where, Reason.RED_NEEDS_RECIPIENTS,
                              "TLP:RED is delivered only to named recipients (--to), never to a sector")
        else:
            problem = None
        if problem is not None or level is None:
            out.note(submission, reporter, parsed.format, [problem] if problem else [])
            continue
        known = by_id.get(item.id)
        if known is not None:  # the same object twice in one submission: one record, narrowest level
            known["indicator_types"] = sorted(set(known["indicator_types"]) | set(item.indicator_types))
            known["for_detection"] = known["for_detection"] or item.for_detection
            if TLP.from_slug(known["tlp"]) < level:
                known["tlp"] = level.slug
            continue
        by_id[item.id] = {
            "id": item.id,
            "stix_type": item.stix_type,
            "tlp": level.slug,
            "observable": item.observable,
            "value": item.value,
            "pattern": item.pattern,  # complex patterns only: simple ones are derived from the value
            "indicator_types": sorted(set(item.indicator_types)),
            "body": orjson.dumps(item.body, option=orjson.OPT_SORT_KEYS).decode() if item.body is not None else None,
            "warninglists": warnings.match(item.observable, item.value) if warnings else [],
            "for_detection": item.for_detection,
        }
    # A withdrawal and a share of the same object in one submission: the withdrawal is the later word.
    out.records = [record for key, record in by_id.items() if key not in withdrawn] + list(withdrawn.values())
    for sighting in parsed.sightings:
        levels = [lvl for lvl in (sighting.tlp, default) if lvl is not None]
        out.feedback.append({
            "feedback_id": f"{submission['submission_id']}/{sighting.source_id}",
            "member": submission["submitter"], "kind": "sighting", "indicator": sighting.indicator,
            "count": sighting.count, "tlp": max(levels).slug if levels else None,
            "observed_at": submission["received_at"],
        })
    return out


def withdrawal(record_id: str, stix_type: str) -> dict[str, Any]:
    """The NormalizedRecord that takes back the submitter's reports of a record (its TLP is unused:
    a withdrawal removes the submitter's evidence at every level)."""
    return {"id": record_id, "stix_type": stix_type, "tlp": TLP.CLEAR.slug, "observable": None, "value": None,
            "pattern": None, "indicator_types": [], "body": None, "warninglists": [], "for_detection": True,
            "withdrawn": True}


def batches(result: Normalized, partitions: int, size: int) -> list[tuple[int, dict[str, Any]]]:
    """NormalizedBatch messages: records grouped by merge partition, at most `size` per message."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for record in result.records:
        grouped.setdefault(merge_partition(record["id"], partitions), []).append(record)
    return [(p, {**result.context, "records": group[i:i + size]})
            for p, group in sorted(grouped.items()) for i in range(0, len(group), size)]
