"""Member reputation and standing, folded from reputation events.

Reputation is a Beta(α, β) per pseudonym and TLP level: α counts reports that
were later confirmed, β those later refuted (revoked, or on a warning list).
The reliability used for a view at level L comes only from outcomes at levels
≤ L, so AMBER outcomes never move GREEN scores (rule 2).

Standing counts a member's contributions (accepted items and feedback) over a
window: at or above the bar the member is a contributor, below it general.

Events are plain dicts (JSON on kizuna.reputation, keyed by pseudonym):
  {"type": "outcome", "member", "level", "alpha", "beta", "cause", "at"}
  {"type": "activity", "member", "count", "cause", "at"}
`cause` makes each event idempotent: the same cause is counted once.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from streams.core.confidence import reliability
from streams.tlp import TLP

Event = dict[str, Any]
_LEVELS = len(TLP)


class Book:
    def __init__(self) -> None:
        self._alpha: dict[str, list[float]] = defaultdict(lambda: [0.0] * _LEVELS)
        self._beta: dict[str, list[float]] = defaultdict(lambda: [0.0] * _LEVELS)
        self._activity: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._causes: set[str] = set()

    def apply(self, event: Event) -> bool:
        """Fold one event; False when its cause was already counted."""
        if event["cause"] in self._causes:
            return False
        self._causes.add(event["cause"])
        member = event["member"]
        if event["type"] == "outcome":
            level = int(TLP.from_slug(event["level"]))
            self._alpha[member][level] += event["alpha"]
            self._beta[member][level] += event["beta"]
        else:
            self._activity[member].append((event["at"], event["count"]))
        return True

    def counts(self, member: str, level: TLP) -> tuple[float, float]:
        """(α, β) of the Beta reputation for views at `level`: prior 1 + outcomes at levels ≤ level."""
        alpha = 1 + sum(self._alpha[member][: level + 1]) if member in self._alpha else 1.0
        beta = 1 + sum(self._beta[member][: level + 1]) if member in self._beta else 1.0
        return alpha, beta

    def reliability(self, member: str, level: TLP) -> float:
        return reliability(*self.counts(member, level))

    def contributions(self, member: str, now_ms: int, window_ms: int) -> int:
        return sum(count for at, count in self._activity.get(member, ()) if now_ms - window_ms <= at <= now_ms)


def standing(contributions: int, bar: int, pinned: str = "auto") -> str:
    """contributor when the member gave at least `bar` in the window, else general; an operator may pin it."""
    if pinned != "auto":
        return pinned
    return "contributor" if contributions >= bar else "general"


def outcome(member: str, level: TLP, confirmed: bool, cause: str, at: int) -> Event:
    return {"type": "outcome", "member": member, "level": level.slug, "alpha": int(confirmed),
            "beta": int(not confirmed), "cause": cause, "at": at}


def activity(member: str, count: int, cause: str, at: int) -> Event:
    return {"type": "activity", "member": member, "count": count, "cause": cause, "at": at}
