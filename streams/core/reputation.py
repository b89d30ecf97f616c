"""Member reputation, independence and standing, folded from reputation events.

Reputation is per pseudonym and TLP level: r, the credit for reports later confirmed, and s,
the blame for those later refuted (revoked, or on a warning list). A member's weight is the
mean of a sceptical Beta prior updated by them (Jøsang's Beta reputation with a base rate):

    ω = (newcomer · W + r) / (W + r + s)        newcomer 0.2, W 4

so a newcomer starts at 0.2 and earns weight only through confirmed history, and a member the
operator vouches for (a founding member, EigenTrust's pre-trusted peer) starts with r = 5.
Credit is split by novelty: a backer that joined after n others gets 1 / (n + 1)²; a member's
credit counts at most `daily_credit` per day, and at most `per_partner` per distinct member it
was earned with. So re-sending values many members already sent, copying one member's
reports, or spraying values in the hope that some get confirmed, earns almost nothing.

Independence: each confirmation outcome names the other backers, so the book knows how often
two members confirmed together. Members that confirmed at least 3 records together, and
together in at least half of the smaller one's confirmations, are one group, as are all
members without a track record;
a group counts once in confidence (streams.core.confidence).

Weights and groups for a view at level L come only from outcomes at levels ≤ L, so AMBER
outcomes never move GREEN scores (rule 2).

Standing counts a member's contributions (accepted items and feedback) over a window: at or
above the bar the member is a contributor, below it general.

Events are plain dicts (JSON on kizuna.reputation, keyed by pseudonym):
  {"type": "outcome", "member", "level", "alpha", "beta", "cause", "at", ["together"]}
  {"type": "vouch", "member", "level", "alpha", "cause", "at"}
  {"type": "activity", "member", "count", "cause", "at"}
`cause` makes each event idempotent: the same cause is counted once, so a replay changes nothing.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from streams.tlp import TLP

Event = dict[str, Any]
_LEVELS = len(TLP)
NEWCOMERS = "newcomers"  # the group of every member without a track record


@dataclass(frozen=True)
class Learning:
    newcomer: float = 0.2  # weight of a member with no history (the Beta prior's mean)
    prior_weight: float = 4.0  # W: how much history it takes to move away from it
    track: float = 1.0  # credit from which a member has a track record of its own
    together: float = 0.5  # share of co-confirmations from which two members are one group ...
    min_together: int = 3  # ... once they confirmed at least this many records together (one is no pattern)
    daily_credit: float = 10.0  # credit a member can earn per day and level
    per_partner: float = 3.0  # earned credit that counts per distinct member it confirmed together with
    vouch: float = 5.0  # credit an operator's vouch gives


DEFAULT_LEARNING = Learning()
_DAY_MS = 86_400_000


class Trust(Protocol):
    """What the merge needs from reputation: a member's weight and the groups of members."""

    def weight(self, member: str, level: TLP) -> float: ...

    def groups(self, members: Iterable[str], level: TLP) -> dict[str, str]: ...


def weight(credit: float, blame: float, learning: Learning = DEFAULT_LEARNING) -> float:
    """ω of a member from its credit r and blame s (both ≥ 0)."""
    return (learning.newcomer * learning.prior_weight + credit) / (learning.prior_weight + credit + blame)


def novelty_credit(earlier_backers: int) -> float:
    """Credit for backing a value that `earlier_backers` members had backed before."""
    return 1.0 / (earlier_backers + 1) ** 2


class Book:
    def __init__(self, learning: Learning = DEFAULT_LEARNING) -> None:
        self.learning = learning
        self._credit: dict[str, dict[tuple[int, int], float]] = defaultdict(dict)  # member -> (level, day) -> r
        self._beta: dict[str, list[float]] = defaultdict(lambda: [0.0] * _LEVELS)
        self._vouched: dict[str, list[float]] = defaultdict(lambda: [0.0] * _LEVELS)
        self._confirmed: dict[str, list[int]] = defaultdict(lambda: [0] * _LEVELS)
        self._together: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * _LEVELS)
        self._partners: dict[str, dict[str, int]] = defaultdict(dict)  # member -> co-backer -> lowest level
        self._activity: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._causes: set[str] = set()
        self._credits: dict[tuple[str, int], float] = {}  # credit() memo: read per signal of every view

    def apply(self, event: Event) -> bool:
        """Fold one event; False when its cause was already counted. Order does not matter."""
        if event["cause"] in self._causes:
            return False
        self._causes.add(event["cause"])
        member = event["member"]
        if event["type"] == "activity":
            self._activity[member].append((event["at"], event["count"]))
            return True
        level = int(TLP.from_slug(event["level"]))
        self._credits.clear()
        if event["type"] == "vouch":
            self._vouched[member][level] = max(self._vouched[member][level], float(event["alpha"]))
            return True
        day = (level, event["at"] // _DAY_MS)
        self._credit[member][day] = self._credit[member].get(day, 0.0) + event["alpha"]
        self._beta[member][level] += event["beta"]
        if event["alpha"] > 0:
            self._confirmed[member][level] += 1
            for other in event.get("together") or ():
                self._together[(member, other)][level] += 1
                self._partners[member][other] = min(level, self._partners[member].get(other, level))
        return True

    def credit(self, member: str, level: TLP) -> float:
        """r for views at `level`: vouched credit plus earned credit at levels ≤ level, capped per day and
        by the number of distinct members it was earned with (one accomplice or one copied source is not a record)."""
        known = self._credits.get((member, level))
        if known is not None:
            return known
        cap = self.learning.daily_credit
        earned = sum(min(cap, r) for (lvl, _), r in self._credit.get(member, {}).items() if lvl <= level)
        partners = sum(1 for lowest in self._partners.get(member, {}).values() if lowest <= level)
        earned = min(earned, self.learning.per_partner * partners)
        credit = max(self._vouched[member][: level + 1]) + earned if member in self._vouched else earned
        self._credits[(member, level)] = credit
        return credit

    def blame(self, member: str, level: TLP) -> float:
        return sum(self._beta[member][: level + 1]) if member in self._beta else 0.0

    def counts(self, member: str, level: TLP) -> tuple[float, float]:
        """(α, β) = (1 + r, 1 + s), the plain Beta counts (shown by `kizuna members`)."""
        return 1 + self.credit(member, level), 1 + self.blame(member, level)

    def weight(self, member: str, level: TLP) -> float:
        return weight(self.credit(member, level), self.blame(member, level), self.learning)

    def _confirmations(self, member: str, level: TLP) -> int:
        return sum(self._confirmed[member][: level + 1]) if member in self._confirmed else 0

    def _dependent(self, a: str, b: str, level: TLP) -> bool:
        pairs = [self._together[key] for key in ((a, b), (b, a)) if key in self._together]
        if not pairs:
            return False
        together = max(sum(counts[: level + 1]) for counts in pairs)  # as either of them recorded it
        smaller = min(self._confirmations(a, level), self._confirmations(b, level))
        return together >= self.learning.min_together and together >= self.learning.together * smaller

    def groups(self, members: Iterable[str], level: TLP) -> dict[str, str]:
        """member -> its group: newcomers together, members that mostly confirmed together joined."""
        found: dict[str, str] = {}
        proven = []
        for member in sorted(set(members)):
            if self.credit(member, level) < self.learning.track:
                found[member] = NEWCOMERS
            else:
                found[member] = member
                proven.append(member)
        for i, a in enumerate(proven):  # union: a few members per record, so pairs are cheap
            for b in proven[i + 1:]:
                if self._dependent(a, b, level):
                    old, new = max(found[a], found[b]), min(found[a], found[b])
                    for m in proven:
                        if found[m] == old:
                            found[m] = new
        return found

    def contributions(self, member: str, now_ms: int, window_ms: int) -> int:
        return sum(count for at, count in self._activity.get(member, ()) if now_ms - window_ms <= at <= now_ms)


def standing(contributions: int, bar: int, pinned: str = "auto") -> str:
    """contributor when the member gave at least `bar` in the window, else general; an operator may pin it."""
    if pinned != "auto":
        return pinned
    return "contributor" if contributions >= bar else "general"


def outcome(member: str, level: TLP, confirmed: bool, cause: str, at: int, credit: float = 1.0,
            together: Iterable[str] = ()) -> Event:
    """Credit (confirmed) or blame for one member on one record; `together`: the other backers."""
    event: Event = {"type": "outcome", "member": member, "level": level.slug, "alpha": credit if confirmed else 0,
                    "beta": 0 if confirmed else 1, "cause": cause, "at": at}
    if confirmed and together:
        event["together"] = sorted(together)
    return event


def vouch(member: str, level: TLP, at: int, learning: Learning = DEFAULT_LEARNING) -> Event:
    """The operator's word for a member (a founding member): credit at levels ≤ `level`, once."""
    return {"type": "vouch", "member": member, "level": level.slug, "alpha": learning.vouch,
            "cause": f"vouch|{member}|{level.slug}", "at": at}


def activity(member: str, count: int, cause: str, at: int) -> Event:
    return {"type": "activity", "member": member, "count": count, "cause": cause, "at": at}
