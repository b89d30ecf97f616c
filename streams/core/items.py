"""What parsing a submission yields: usable items and problems with where they are."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from streams.core.canonical import InvalidValue, canonicalize, indicator_id
from streams.tlp import TLP


@dataclass(slots=True)
class Item:
    """One shareable object of a submission, canonical but not yet attributed or scoped."""

    id: str
    stix_type: str  # "indicator" or another STIX object type (malware, relationship ...)
    where: str  # where it came from, for messages: "object indicator--…", "line 7", "attribute <uuid>"
    tlp: TLP | None = None  # from the object's own markings or tags; None defers to the submission
    observable: str | None = None  # indicator kind, see canonical.PATTERN_PATHS; None for complex patterns
    value: str | None = None  # canonical value of a simple indicator
    pattern: str | None = None  # complex STIX patterns only; simple ones follow from observable and value
    indicator_types: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None  # other properties of a non-indicator object
    for_detection: bool = True  # False: the provider did not mark it for detection (MISP to_ids false)
    audience: str | None = None  # a MISP distribution naming who may see it (0, 4): why `tlp` is RED
    tagged: TLP | None = None  # with `audience`: the level from tags alone, used with --override-distribution
    withdraw: bool = False  # the provider takes it back (STIX revoked, MISP deleted): its evidence is removed


@dataclass(slots=True, frozen=True)
class Problem:
    """Something not carried: rejected because it is defective (said so a person can fix it), or
    skipped by a documented policy (a skip is not an error: `skipped` tells the two apart)."""

    where: str
    code: str  # short machine-readable reason, also the metrics label
    reason: str

    @property
    def skipped(self) -> bool:
        return self.code in SKIP_REASONS


@dataclass(slots=True, frozen=True)
class Sighting:
    """A STIX Sighting in a bundle, turned into feedback on the indicator it is about."""

    source_id: str  # the Sighting's own id, for an idempotent feedback id
    indicator: str  # canonical STIX id of what was sighted
    count: int
    tlp: TLP | None
    where: str


@dataclass(slots=True)
class Parsed:
    format: str
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    tlp: TLP | None = None  # submission-wide level found in the document (MISP event tags)
    sightings: list[Sighting] = field(default_factory=list)  # STIX Sighting objects: feedback, not content




class Reason:
    """Rejection reason codes: stable, documented in docs/records.md, used as metric labels."""

    NOT_UTF8: Final = "not-utf8"
    TOO_LARGE: Final = "too-large"
    TOO_DEEP: Final = "too-deep"
    TOO_MANY: Final = "too-many"
    MALFORMED: Final = "malformed"
    UNKNOWN_FORMAT: Final = "unknown-format"
    INVALID_VALUE: Final = "invalid-value"
    INVALID_PATTERN: Final = "invalid-pattern"
    UNSUPPORTED_TYPE: Final = "unsupported-type"
    UNSUPPORTED_PATTERN_TYPE: Final = "unsupported-pattern-type"
    WITHHELD: Final = "withheld"
    DANGLING_REF: Final = "dangling-ref"
    NO_TLP: Final = "no-tlp"
    RED_NEEDS_RECIPIENTS: Final = "red-needs-recipients"
    DISTRIBUTION: Final = "distribution-narrower"
    UNKNOWN_SECTOR: Final = "unknown-sector"
    UNKNOWN_MEMBER: Final = "unknown-member"
    UNAUTHENTICATED: Final = "unauthenticated"
    RETIRED_KEY: Final = "retired-key"
    UNKNOWN_RECIPIENT: Final = "unknown-recipient"
    UNKNOWN_INDICATOR: Final = "unknown-indicator"
    INVALID_FEEDBACK: Final = "invalid-feedback"
    EMPTY: Final = "empty"
    # Skips: policy working as intended, not errors (docs/records.md, "Skip reasons").
    WITHHELD_REF: Final = "withheld-ref"
    MARKING: Final = "marking"
    DROPPED_TYPE: Final = "dropped-type"
    PERSONAL_DATA: Final = "personal-data"
    NOTHING_TO_WITHDRAW: Final = "nothing-to-withdraw"


# Policies that leave an object out on purpose; every other reason is a rejection.
SKIP_REASONS = frozenset({Reason.WITHHELD, Reason.WITHHELD_REF, Reason.MARKING, Reason.DROPPED_TYPE,
                          Reason.PERSONAL_DATA, Reason.NOTHING_TO_WITHDRAW})


def simple_indicator(kind: str, raw: str, where: str, tlp: TLP | None = None,
                     types: list[str] | None = None) -> Item | Problem:
    """A value of a known kind -> its canonical indicator item, or the problem with it."""
    try:
        kind, value = canonicalize(kind, raw)
    except InvalidValue as exc:
        return Problem(where, Reason.INVALID_VALUE, str(exc))
    return Item(id=indicator_id(kind, value), stix_type="indicator", where=where, tlp=tlp, observable=kind,
                value=value, indicator_types=types or [])


RETIRED_KEY_TEXT = ("signed with a retired signing key of {who}: the hub rotated its credentials and the overlap "
                    "has ended; sign with the key in the newest credentials file the hub issued")


def rejection(submission_id: str, received_at: int, reporter: str, fmt: str, problem: Problem) -> dict[str, Any]:
    """The record kizuna.rejected carries (streams.records.Rejection): pseudonymous, with where and why,
    and whether it was skipped by policy or rejected as defective."""
    received = datetime.fromtimestamp(received_at / 1000, tz=timezone.utc)
    return {
        "submission_id": submission_id,
        "reporter": reporter,
        "where": problem.where,
        "code": problem.code,
        "reason": problem.reason,
        "format": fmt,
        "received_at": received.isoformat().replace("+00:00", "Z"),
        "outcome": "skipped" if problem.skipped else "rejected",
    }
