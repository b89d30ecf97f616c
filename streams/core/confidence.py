"""Confidence (0-100, the STIX `confidence`) from peer evidence, as log-odds.

    L = logit(prior)
      + Σ over members m:  max(positive signals of m) · rel(m) · decay
      − Σ over members m:  W_fp · rel(m) · (1 + repeat · ln count) · decay
      − W_warninglist   if the value is on a MISP warning list
    confidence = round(100 · sigmoid(L))

- A positive signal is a report (W_report; W_context_report when the provider did not mark it
  for detection), a sighting (W_sighting · (1 + repeat · ln count))
  or a confirmation (W_confirm). A member counts once, with its strongest signal:
  independent corroboration adds up, repetition by one member barely does.
- rel(m) = 2 · E[Beta(α, β)] of the member's reputation: 1.0 for a newcomer
  (Beta(1, 1)), up to 2.0 for a member whose reports were always confirmed, down
  to 0 for one whose reports were always refuted.
- decay = 0.5 ** (age / half-life of the indicator kind), age measured from the
  signal to the newest evidence (not the wall clock, so a replay scores the same).

docs/confidence.md works through examples; tests/unit/test_confidence.py checks them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Kind = Literal["report", "context-report", "sighting", "confirm", "false-positive"]
POSITIVE: frozenset[str] = frozenset({"report", "context-report", "sighting", "confirm"})
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Weights:
    prior: float = 0.30
    report: float = 1.2
    context_report: float = 0.6  # a report its provider did not mark for detection (MISP to_ids false)
    sighting: float = 1.6
    confirm: float = 2.0
    false_positive: float = 3.0
    warninglist: float = 5.0
    repeat: float = 0.25
    half_life_days: dict[str, float] = field(default_factory=lambda: {
        "ipv4-addr": 30, "ipv6-addr": 30, "url": 60, "domain-name": 90, "email-addr": 90,
        "file-md5": 365, "file-sha1": 365, "file-sha256": 365, "file-sha512": 365,
    })
    default_half_life_days: float = 90


DEFAULT_WEIGHTS = Weights()


class Signal(NamedTuple):  # a tuple: built for every signal of every view, on the hot path
    member: str  # pseudonym
    kind: Kind
    reliability: float  # E[Beta] of the member's reputation, 0..1
    at_ms: int
    count: int = 1


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x > -700 else 0.0


def _strength(signal: Signal, w: Weights) -> float:
    repeat = 1 + w.repeat * math.log(max(1, signal.count))
    return {"report": w.report, "context-report": w.context_report, "sighting": w.sighting * repeat,
            "confirm": w.confirm,
            "false-positive": w.false_positive * repeat}[signal.kind]


def log_odds(signals: list[Signal], warninglisted: bool, observable: str | None, now_ms: int,
             w: Weights = DEFAULT_WEIGHTS) -> float:
    half_life = w.half_life_days.get(observable or "", w.default_half_life_days) * DAY_MS
    positive: dict[str, float] = {}
    negative: dict[str, float] = {}
    for s in signals:
        decay = 0.5 ** (max(0, now_ms - s.at_ms) / half_life)
        term = _strength(s, w) * 2 * s.reliability * decay
        bucket = positive if s.kind in POSITIVE else negative
        bucket[s.member] = max(bucket.get(s.member, 0.0), term)
    total = logit(w.prior) + sum(positive.values()) - sum(negative.values())
    return total - w.warninglist if warninglisted else total


def confidence(signals: list[Signal], warninglisted: bool, observable: str | None, now_ms: int,
               w: Weights = DEFAULT_WEIGHTS) -> int:
    return round(100 * sigmoid(log_odds(signals, warninglisted, observable, now_ms, w)))


def reliability(alpha: float, beta: float) -> float:
    """Expected reliability of a member from its Beta(α, β) reputation (α, β ≥ 1)."""
    return alpha / (alpha + beta)
