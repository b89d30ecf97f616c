"""Confidence (0-100, the STIX `confidence`) from peer evidence, as a sum of log-odds terms.

    L = logit(prior)
      + Σ over groups g:  max over g's reports and confirmations of  W_kind · scale · ω(m) · decay
      + W_sighting · max over sightings of  ω(m) · (1 + repeat · ln count) · decay       (relevance: one term)
      − W_prevalence · min(1, max(0, n − P + 1) / P)     n: members that only sighted it (popular: benign-leaning)
      − Σ over groups g:  max over g's false-positive reports of  W_fp · ω(m)² · decay   (a dispute needs standing)
      − W_warninglist   if the value is on a MISP warning list
    confidence = round(100 · sigmoid(L))

- ω(m) is the member's weight, 0..1 (streams.core.reputation.weight): a sceptical Beta mean,
  0.2 for a newcomer, towards 1 with confirmed history.
- A group is a set of members whose histories are not independent: members that mostly
  corroborated each other, and all members without a track record, count as one
  (streams.core.reputation.Book.groups). Repetition within a group adds nothing.
- scale < 1 weakens a report its provider did not mark for detection (MISP to_ids false).
- decay = 0.5 ** (age / half-life of the indicator kind), age measured from the signal to the
  newest evidence (not the wall clock, so a replay scores the same).

Two rules beside the score decide the confirmed tier (streams.core.merge.record_status):
`backing_groups`, a quorum of independent groups that reported or confirmed it, and `disputed`,
the hold-back rule: a false-positive report by a reliable member (ω ≥ W.dispute) outside every
backing group keeps a record out of the confirmed tier whatever its confidence.
docs/confidence.md works through examples; tests/unit/test_confidence.py checks them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Kind = Literal["report", "sighting", "confirm", "false-positive"]
BACKING: frozenset[str] = frozenset({"report", "confirm"})
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Weights:
    prior: float = 0.30
    report: float = 1.5
    confirm: float = 1.5  # an explicit "this is malicious" weighs like a report
    sighting: float = 0.25  # a sighting says the value is in use, not that it is malicious
    false_positive: float = 3.0
    warninglist: float = 5.0
    repeat: float = 0.1  # how much a sighting's count adds (ln count)
    prevalence: float = 2.0  # against a value many members only sight (popular infrastructure)
    prevalence_members: int = 8  # members that only sighted it before prevalence starts to count
    dispute: float = 0.5  # weight from which a member's false-positive report holds a record back
    not_for_detection: float = 0.5  # scale of a report its provider did not mark for detection (to_ids false)
    half_life_days: dict[str, float] = field(default_factory=lambda: {
        "ipv4-addr": 30, "ipv6-addr": 30, "url": 60, "domain-name": 90, "email-addr": 90,
        "file-md5": 365, "file-sha1": 365, "file-sha256": 365, "file-sha512": 365,
    })
    default_half_life_days: float = 90


DEFAULT_WEIGHTS = Weights()


class Signal(NamedTuple):  # a tuple: built for every signal of every view, on the hot path
    member: str  # pseudonym
    kind: Kind
    weight: float  # ω of the member for this view, 0..1
    at_ms: int
    times: int = 1  # how many times it was seen (sightings)
    group: str = ""  # members of one group count once; "" = the member on its own
    scale: float = 1.0  # evidence strength of a report (< 1: not marked for detection)


class Term(NamedTuple):
    """One addend of L, for `kizuna explain`."""
    rule: str  # prior | backing | relevance | prevalence | false-positive | warning-list
    group: str  # the group it stands for ("" for record-wide terms)
    member: str  # the member whose signal gave it ("" for record-wide terms)
    value: float


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x > -700 else 0.0


def _decay(signal: Signal, now_ms: int, half_life_ms: float) -> float:
    return float(0.5 ** (max(0, now_ms - signal.at_ms) / half_life_ms))


def terms(signals: list[Signal], warninglisted: bool, observable: str | None, now_ms: int,
          w: Weights = DEFAULT_WEIGHTS) -> list[Term]:
    """The addends of L, strongest per group, in a stable order."""
    half_life = w.half_life_days.get(observable or "", w.default_half_life_days) * DAY_MS
    backing: dict[str, tuple[float, str]] = {}
    against: dict[str, tuple[float, str]] = {}
    relevance = (0.0, "")
    active: set[str] = set()
    sighters: set[str] = set()
    for s in signals:
        decay = _decay(s, now_ms, half_life)
        group = s.group or s.member
        if s.kind == "sighting":
            sighters.add(s.member)
            strength = w.sighting * s.weight * (1 + w.repeat * math.log(max(1, s.times))) * decay
            relevance = max(relevance, (strength, s.member))
            continue
        active.add(s.member)
        if s.kind == "false-positive":
            strength = w.false_positive * s.weight ** 2 * decay  # a dispute needs standing: ω²
            against[group] = max(against.get(group, (0.0, "")), (strength, s.member))
        else:
            kind_weight = w.report * s.scale if s.kind == "report" else w.confirm
            backing[group] = max(backing.get(group, (0.0, "")), (kind_weight * s.weight * decay, s.member))
    out = [Term("prior", "", "", logit(w.prior))]
    out += [Term("backing", g, m, v) for g, (v, m) in sorted(backing.items())]
    if relevance[0] > 0:
        out.append(Term("relevance", "", relevance[1], relevance[0]))
    only_sighted = len(sighters - active)
    if only_sighted >= w.prevalence_members:
        excess = (only_sighted - w.prevalence_members + 1) / w.prevalence_members
        out.append(Term("prevalence", "", "", -w.prevalence * min(1.0, excess)))
    out += [Term("false-positive", g, m, -v) for g, (v, m) in sorted(against.items())]
    if warninglisted:
        out.append(Term("warning-list", "", "", -w.warninglist))
    return out


def log_odds(signals: list[Signal], warninglisted: bool, observable: str | None, now_ms: int,
             w: Weights = DEFAULT_WEIGHTS) -> float:
    return sum(t.value for t in terms(signals, warninglisted, observable, now_ms, w))


def confidence(signals: list[Signal], warninglisted: bool, observable: str | None, now_ms: int,
               w: Weights = DEFAULT_WEIGHTS) -> int:
    return round(100 * sigmoid(log_odds(signals, warninglisted, observable, now_ms, w)))


def backing_groups(signals: list[Signal]) -> int:
    """How many independent groups reported or confirmed it (sightings do not back)."""
    return len({s.group or s.member for s in signals if s.kind in BACKING})


def disputed(signals: list[Signal], w: Weights = DEFAULT_WEIGHTS) -> bool:
    """A reliable member outside every backing group called it a false positive: hold it back."""
    backers = {s.group or s.member for s in signals if s.kind in BACKING}
    return any(s.kind == "false-positive" and s.weight >= w.dispute and (s.group or s.member) not in backers
               for s in signals)
