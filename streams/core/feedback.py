"""Feedback in: validate a member's sighting, confirmation or false-positive report."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from streams.core import canonical
from streams.core.canonical import InvalidValue
from streams.core.items import Problem, Reason
from streams.members import Registry
from streams.tlp import TLP, parse_level

KINDS = ("sighting", "confirm", "false-positive")
MAX_COUNT = 1_000_000
_STIX_ID = re.compile(r"^[a-z][a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@lru_cache(maxsize=65_536)  # SIEMs report the same hot values over and over
def resolve(reference: str) -> str:
    """A STIX id as is, or an indicator value -> the id kizuna gave that indicator."""
    reference = reference.strip()
    if _STIX_ID.match(reference):
        return reference
    kind = canonical.classify(reference)
    if kind is None:
        raise InvalidValue(f"{reference[:100]!r} is neither a STIX id nor an indicator value")
    return canonical.indicator_id(*canonical.canonicalize(kind, reference))


def validate(item: dict[str, Any], registry: Registry, pseudonym: str) -> tuple[dict[str, Any] | None, Problem | None]:
    """Feedback as sent -> (FeedbackRecord with the member pseudonymised, None) or (None, problem)."""
    where = f"feedback {str(item.get('feedback_id'))[:64]}"
    member = registry.get(item["member"])
    if member is None:
        return None, Problem(where, Reason.UNKNOWN_MEMBER, "the sender is not a member of this hub")
    if item["kind"] not in KINDS:
        return None, Problem(where, Reason.INVALID_FEEDBACK,
                             f"kind {item['kind'][:40]!r} is not one of {', '.join(KINDS)}")
    count = item["count"]
    if not 1 <= count <= MAX_COUNT:
        return None, Problem(where, Reason.INVALID_FEEDBACK, f"count {count} is outside 1..{MAX_COUNT}")
    if item["kind"] != "sighting" and count != 1:
        return None, Problem(where, Reason.INVALID_FEEDBACK,
                             f"a count applies to sightings only, not to {item['kind']}")
    level_name = item.get("tlp") or member.default_tlp
    level = parse_level(level_name) if level_name else None
    if level is None:
        return None, Problem(where, Reason.NO_TLP, "no TLP on the feedback and no default TLP for the member")
    if level is TLP.RED:
        return None, Problem(where, Reason.RED_NEEDS_RECIPIENTS, "TLP:RED feedback cannot be shared")
    try:
        record_id = resolve(item["indicator"])
    except InvalidValue as exc:
        return None, Problem(where, Reason.INVALID_VALUE, str(exc))
    return {"feedback_id": item["feedback_id"], "id": record_id, "member": pseudonym, "kind": item["kind"],
            "count": count, "tlp": level.slug, "observed_at": item["observed_at"]}, None
