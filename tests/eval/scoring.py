"""`make eval-scoring`: kizuna's confidence against baselines, on a friendly and on adversarial communities.

The friendly community (seeded, so anyone can rerun it):
- honest members with hidden skills: each report is a true indicator with that probability,
  otherwise a benign value reported by mistake; the operator vouched for the founding
  members (the first eight), the others start as newcomers;
- benign values are real popular domains from the MISP warning lists (Alexa, Tranco); the
  hub's warning-list index knows only half of them (lists never cover every benign value);
- members' SIEMs sight reported values (true ones more often; benign ones too, as everyone
  visits popular sites); analysts confirm some true values and report false positives with
  noise (mostly on benign values, sometimes wrongly on true ones).

Each adversarial community is the friendly one plus an adversary (docs/confidence.md, threat model):
- pair / triple: two or three fresh accounts of one attacker report, confirm and sight 30
  poisoned values (benign domains no warning list knows);
- farmer: a fresh account re-sends a public feed four honest members also send (150 true
  values, always after them), then poisons 30 values with a fresh accomplice;
- copycat: the farmer of the issue: a fresh account re-sends, hours later, 60 values one
  founding member reported, then poisons 30 values with a fresh accomplice;
- sleeper: two fresh accounts behave (first to report true values) for 18 days, then poison
  30 values together; honest members report false positives as they notice;
- flooder: a fresh account sends 10 sightings a day on every value, false positives on every
  true value and reports 300 benign values;
- newcomer wave: ten fresh accounts join on day 15 and all back 30 poisoned values;
- cdn: a founding member reports 20 popular CDN-like values (on no warning list) by mistake, a
  second honest member the odd-numbered ten too, and most members' SIEMs sight them all the time.

Everyone's scores come from the same time-ordered events:
- kizuna: the real merge/confidence/reputation code (streams.core), GREEN view, tiers as published;
- kizuna before #14: the released formula (2·E[Beta] reliability, sightings as corroboration);
- CIF/IntelMQ style: a fixed confidence per source, combined noisy-or over sources;
- MISP style: a base score with polynomial decay since the last report, times the sightings ratio.

Printed per community: ROC AUC; bad values (poisoned, or benign) that reached the confirmed tier,
and for how long; true indicators confirmed and how long it took; and the targets of issue 14.
Exit 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.core.canonical import indicator_id
from streams.core.confidence import DAY_MS, logit, sigmoid
from streams.core.merge import Policy, changes, fold, fold_feedback, mark_published, outcomes, view
from streams.core.reputation import Book, vouch
from streams.core.warninglists import WarningIndex
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import indicators

GREEN_ALL = (TLP.GREEN, ALL)
POLICY = Policy(threshold=60, step=1)
THRESHOLD = 60
T0 = 1_760_000_000_000
HOUR_MS = 3_600_000
FOUNDERS = 8
RELIABLE = 0.5  # weight from which a member's false-positive report counts as a reliable member's
PROVEN = 0.6  # weight from which a reporter counts as proven (a vouched founder: 0.644)


@dataclass
class Event:
    at: int
    member: str
    kind: str  # report | sighting | confirm | false-positive
    value: str
    count: int = 1


@dataclass
class Community:
    name: str
    events: list[Event]
    truth: dict[str, bool]  # value -> is a true indicator
    bad: set[str]  # the values this community's adversary (or mistake) pushes
    adversaries: set[str]
    vouched: list[str]
    known_benign: set[str]


@dataclass
class Base:
    rng: random.Random
    skill: dict[str, float]
    true_values: list[str]
    benign: list[str]
    known_benign: set[str]
    events: list[Event] = field(default_factory=list)


def benign_pool(size: int, rng: random.Random) -> list[str]:
    from pymispwarninglists import WarningLists

    lists = WarningLists(slow_search=False).warninglists.values()
    names = sorted({v for wl in lists if "Alexa" in wl.name or "Top 10K most-used sites from Tranco" in wl.name
                    for v in wl.list if v.count(".") == 1 and v.isascii()})
    return rng.sample(names, size)


def base(seed: int, members: int = 20, true_count: int = 600, days: int = 30) -> Base:
    """The honest community's own reports (feedback comes later, on every reported value)."""
    rng = random.Random(seed)
    skill = {f"member-{i:02d}": rng.uniform(0.55, 0.98) for i in range(members)}
    true_values = sorted({v for k, v in indicators(true_count * 2, duplicate_share=0, seed=seed) if k == "domain-name"})
    pool = benign_pool(500, rng)
    benign, spare = pool[:400], pool[400:]
    b = Base(rng, skill, true_values[:true_count], benign, set(benign[::2]))
    b.benign_spare = spare  # type: ignore[attr-defined]  # for adversaries: values no list knows
    for member, r in skill.items():
        for _ in range(rng.randint(20, 60)):
            at = T0 + rng.randrange(days * DAY_MS)
            value = rng.choice(b.true_values) if rng.random() < r else rng.choice(benign)
            b.events.append(Event(at, member, "report", value))
    return b


def honest_feedback(b: Base, truth: dict[str, bool]) -> None:
    """Every honest member's SIEM sightings and analysts' verdicts on every reported value."""
    rng = b.rng
    first: dict[str, int] = {}
    for e in b.events:
        if e.kind == "report":
            first[e.value] = min(first.get(e.value, e.at), e.at)
    for value in sorted(first):
        is_true = truth[value]
        for member, r in b.skill.items():
            at = first[value] + rng.randrange(1, 3 * DAY_MS)
            if rng.random() < (0.30 if is_true else 0.12):  # SIEM matches: benign sites are visited too
                b.events.append(Event(at, member, "sighting", value, rng.randint(1, 20)))
                if rng.random() < (0.25 * r if is_true else 0.03 * (1 - r)):  # the analyst looked at it
                    b.events.append(Event(at + HOUR_MS, member, "confirm", value))
            if rng.random() < ((0.35 * r) if not is_true else (0.03 * (1 - r))):
                b.events.append(Event(at + DAY_MS, member, "false-positive", value))


def community(name: str, b: Base, adversaries: set[str], bad: set[str], extra: list[Event]) -> Community:
    events = b.events + extra
    truth = {e.value: e.value in set(b.true_values) for e in events}
    b.events = events
    honest_feedback(b, truth)
    events = sorted(b.events, key=lambda e: (e.at, e.member, e.kind, e.value))
    founders = sorted(b.skill)[:FOUNDERS]
    return Community(name, events, truth, bad, adversaries, founders, b.known_benign)


def _poison(b: Base, n: int = 30) -> list[str]:
    return b.benign_spare[:n]  # type: ignore[attr-defined]


def _backing(accounts: list[str], values: list[str], start: int, rng: random.Random) -> list[Event]:
    """Accounts of one attacker: the first reports, the others confirm and sight, within hours."""
    out = []
    for value in values:
        at = start + rng.randrange(10 * DAY_MS)
        out.append(Event(at, accounts[0], "report", value))
        for i, account in enumerate(accounts[1:], 1):
            out.append(Event(at + i * HOUR_MS, account, "confirm", value))
            out.append(Event(at + i * HOUR_MS, account, "sighting", value, 50))
    return out


def build(name: str, seed: int) -> Community:
    b = base(seed)
    rng = random.Random(seed * 1000 + sum(map(ord, name)))
    if name == "friendly":
        return community(name, b, set(), set(), [])
    if name in ("pair", "triple", "newcomer wave"):
        size, start = {"pair": (2, 0), "triple": (3, 0), "newcomer wave": (10, 15 * DAY_MS)}[name]
        accounts = [f"attacker-{i}" for i in range(size)]
        poison = _poison(b)
        return community(name, b, set(accounts), set(poison), _backing(accounts, poison, T0 + start, rng))
    if name == "farmer":
        public = b.true_values[-150:]  # a public feed: four honest members send it, the farmer after them
        extra = []
        for value in public:
            at = T0 + rng.randrange(15 * DAY_MS)
            extra += [Event(at + k * HOUR_MS, f"member-{k + 10:02d}", "report", value) for k in range(4)]
            extra.append(Event(at + 5 * HOUR_MS, "farmer", "report", value))
        poison = _poison(b)
        extra += _backing(["farmer", "farmer-accomplice"], poison, T0 + 16 * DAY_MS, rng)
        return community(name, b, {"farmer", "farmer-accomplice"}, set(poison), extra)
    if name == "copycat":
        founder = sorted(b.skill)[0]
        copied = sorted({e.value for e in b.events if e.member == founder and e.kind == "report"})[:60]
        first = {}
        for e in b.events:
            if e.member == founder and e.value in copied:
                first[e.value] = min(first.get(e.value, e.at), e.at)
        extra = [Event(first[v] + rng.randrange(1, 6) * HOUR_MS, "copycat", "report", v) for v in copied]
        poison = _poison(b)
        extra += _backing(["copycat", "copycat-accomplice"], poison, T0 + 20 * DAY_MS, rng)
        return community(name, b, {"copycat", "copycat-accomplice"}, set(poison), extra)
    if name == "sleeper":
        extra = []
        for account in ("sleeper-1", "sleeper-2"):
            for value in rng.sample(b.true_values, 60):  # first to report true values: earns credit
                extra.append(Event(T0 + rng.randrange(18 * DAY_MS), account, "report", value))
        poison = _poison(b)
        extra += _backing(["sleeper-1", "sleeper-2"], poison, T0 + 19 * DAY_MS, rng)
        return community(name, b, {"sleeper-1", "sleeper-2"}, set(poison), extra)
    if name == "flooder":
        poison = _poison(b, 100)
        extra = [Event(T0 + rng.randrange(30 * DAY_MS), "flooder", "report", v) for v in poison]
        reported = sorted({e.value for e in b.events} | set(poison))
        for value in reported:
            at = T0 + rng.randrange(30 * DAY_MS)
            extra.append(Event(at, "flooder", "sighting", value, 1000))
            if value in b.true_values:
                extra.append(Event(at, "flooder", "false-positive", value))
        return community(name, b, {"flooder"}, set(poison), extra)
    if name == "cdn":
        cdn = _poison(b, 20)
        honest = sorted(b.skill)
        extra = []
        for i, value in enumerate(cdn):
            at = T0 + rng.randrange(25 * DAY_MS)
            extra.append(Event(at, rng.choice(honest[:FOUNDERS]), "report", value))
            if i % 2:  # half of them: a second member makes the same mistake
                extra.append(Event(at + rng.randrange(DAY_MS), rng.choice(honest[FOUNDERS:]), "report", value))
            for member in honest:
                if rng.random() < 0.8:  # everyone's traffic goes there
                    extra.append(Event(at + rng.randrange(1, DAY_MS), member, "sighting", value, rng.randint(50, 5000)))
        return community(name, b, set(), set(cdn), extra)
    raise ValueError(name)


COMMUNITIES = ("friendly", "pair", "triple", "farmer", "copycat", "sleeper", "flooder", "newcomer wave", "cdn")


# --- the methods: each gives a value's score after every event, and its tier -----------------------

class Method:
    name = ""

    def apply(self, event: Event, seq: int) -> None:
        raise NotImplementedError

    def score(self, value: str) -> float:
        raise NotImplementedError

    def confirmed(self, value: str) -> bool:
        return self.score(value) >= THRESHOLD

    def final(self, value: str, end: int) -> float:
        """The score at the end of the run (for the ROC AUC)."""
        return self.score(value)


@dataclass
class Kizuna(Method):
    index: WarningIndex
    vouched: list[str]
    name: str = "kizuna"
    book: Book = field(default_factory=Book)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    general: dict[str, str] = field(default_factory=dict)  # value -> status on the general topic

    def __post_init__(self) -> None:
        for member in self.vouched:
            self.book.apply(vouch(member, TLP.CLEAR, T0))

    def apply(self, event: Event, seq: int) -> None:
        key = indicator_id("domain-name", event.value)
        state = self.states.get(key)
        if event.kind == "report":
            record = {"id": key, "stix_type": "indicator", "tlp": "green", "observable": "domain-name",
                      "value": event.value, "pattern": None, "indicator_types": [], "body": None,
                      "warninglists": self.index.match("domain-name", event.value)}
            state = fold(state, record, {"submission_id": str(seq), "reporter": event.member, "sectors": [],
                                         "observed_at": event.at})
        elif state is not None:
            fold_feedback(state, {"feedback_id": str(seq), "id": key, "member": event.member, "kind": event.kind,
                                  "count": event.count, "tlp": "green", "observed_at": event.at})
        if state is None:
            return
        self.states[key] = state
        pubs = changes(state, self.book, POLICY)
        mark_published(state, pubs)
        for pub in pubs:
            if pub.tier == "general":
                self.general[event.value] = pub.status
        for outcome in outcomes(state, pubs):
            self.book.apply(outcome)

    def score(self, value: str) -> float:
        return float(view(self.states[indicator_id("domain-name", value)], GREEN_ALL, self.book)["confidence"])

    def confirmed(self, value: str) -> bool:
        return self.general.get(value) == "confirmed"


@dataclass
class Released(Method):
    """kizuna's confidence as released before issue 14, to measure what the new rules cost."""
    index: WarningIndex
    name: str = "kizuna before #14"
    alpha: dict[str, float] = field(default_factory=dict)
    beta: dict[str, float] = field(default_factory=dict)
    signals: dict[str, dict[tuple[str, str], list[int]]] = field(default_factory=dict)  # value -> (m, kind) -> [n, at]
    state: dict[str, str] = field(default_factory=dict)  # value -> "confirmed" | "refuted"
    blamed: set[tuple[str, str]] = field(default_factory=set)

    def _rel(self, member: str) -> float:
        a, b = 1 + self.alpha.get(member, 0.0), 1 + self.beta.get(member, 0.0)
        return a / (a + b)

    def apply(self, event: Event, seq: int) -> None:
        mine = self.signals.get(event.value)
        if mine is None and event.kind != "report":
            return
        mine = self.signals.setdefault(event.value, {})
        entry = mine.setdefault((event.member, event.kind), [0, event.at])
        entry[0], entry[1] = entry[0] + event.count, max(entry[1], event.at)
        if event.kind == "report" and self.index.match("domain-name", event.value) \
                and (event.member, event.value) not in self.blamed:
            self.blamed.add((event.member, event.value))
            self.beta[event.member] = self.beta.get(event.member, 0.0) + 1
        now = self.score(event.value) >= THRESHOLD
        was = self.state.get(event.value)
        if (now and was is None) or (not now and was == "confirmed"):
            self.state[event.value] = "confirmed" if now else "refuted"
            backers = {m for (m, k) in mine if k != "false-positive"}
            doubters = {m for (m, k) in mine if k == "false-positive"}
            for m in backers - doubters:
                (self.alpha if now else self.beta)[m] = (self.alpha if now else self.beta).get(m, 0.0) + 1
            for m in doubters - backers:
                (self.beta if now else self.alpha)[m] = (self.beta if now else self.alpha).get(m, 0.0) + 1

    def score(self, value: str) -> float:
        mine = self.signals[value]
        newest = max(at for _, at in mine.values())
        positive: dict[str, float] = {}
        negative: dict[str, float] = {}
        for (member, kind), (count, at) in mine.items():
            repeat = 1 + 0.25 * math.log(max(1, count))
            strength = {"report": 1.2, "sighting": 1.6 * repeat, "confirm": 2.0, "false-positive": 3.0 * repeat}[kind]
            term = strength * 2 * self._rel(member) * 0.5 ** ((newest - at) / (90 * DAY_MS))
            bucket = negative if kind == "false-positive" else positive
            bucket[member] = max(bucket.get(member, 0.0), term)
        total = logit(0.3) + sum(positive.values()) - sum(negative.values())
        total -= 5.0 if self.index.match("domain-name", value) else 0.0
        return 100 * sigmoid(total)

    def confirmed(self, value: str) -> bool:
        return self.state.get(value) == "confirmed"


@dataclass
class Stateless(Method):
    """A baseline computed from a value's events so far."""
    fn: Callable[[list[Event], str, int | None], float]  # (events so far, value, now or None: the last event)
    name: str = ""
    seen: dict[str, list[Event]] = field(default_factory=dict)

    def apply(self, event: Event, seq: int) -> None:
        if event.kind == "report" or event.value in self.seen:
            self.seen.setdefault(event.value, []).append(event)

    def score(self, value: str) -> float:
        return self.fn(self.seen[value], value, None)

    def final(self, value: str, end: int) -> float:
        return self.fn(self.seen[value], value, end)


def fixed_source_score(events: list[Event], value: str, now: int | None = None,
                       source_confidence: float = 0.5) -> float:
    """CIF/IntelMQ: each source has a fixed confidence; sources combine noisy-or."""
    sources = {e.member for e in events if e.value == value and e.kind == "report"}
    return 100 * (1 - (1 - source_confidence) ** len(sources))


def misp_score(events: list[Event], value: str, now: int | None = None, base: float = 80, tau_days: float = 30,
               delta: float = 2) -> float:
    """MISP decaying model (polynomial) times the sightings ratio."""
    mine = [e for e in events if e.value == value]
    now = mine[-1].at if now is None else now
    last = max(e.at for e in mine if e.kind in ("report", "sighting"))
    age = (now - last) / DAY_MS
    decay = max(0.0, 1 - (age / tau_days) ** (1 / delta))
    seen = sum(e.count for e in mine if e.kind == "sighting")
    false = sum(1 for e in mine if e.kind == "false-positive")
    return base * decay * (seen + 1) / (seen + false + 2) * 2


def auc(scores: dict[str, float], truth: dict[str, bool]) -> float:
    """Probability that a random true indicator outscores a random benign value (ties count half)."""
    ranked = sorted(scores, key=lambda v: scores[v])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and scores[ranked[j + 1]] == scores[ranked[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = [v for v in scores if truth[v]]
    negatives = len(scores) - len(positives)
    total = sum(ranks[v] for v in positives) - len(positives) * (len(positives) + 1) / 2
    return total / (len(positives) * negatives)


# --- measuring ------------------------------------------------------------------------------------

@dataclass
class Tier:
    """When each value entered and left the confirmed tier, and what it had taken."""
    entered: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    backers_at_entry: dict[str, int] = field(default_factory=dict)  # distinct reporters/confirmers by then
    reliable_fp_at_exit: dict[str, int] = field(default_factory=dict)


def replay(c: Community, methods: list[Method], kizuna: Kizuna) -> dict[str, Tier]:
    tiers = {m.name: Tier() for m in methods}
    backers: dict[str, set[str]] = {}
    reliable_fp: dict[str, int] = {}
    proven_first: dict[str, bool] = {}
    for seq, event in enumerate(c.events):
        if event.kind == "report" or (event.kind == "confirm" and event.value in backers):
            if event.value not in backers:
                proven_first[event.value] = kizuna.book.weight(event.member, TLP.GREEN) >= PROVEN
            backers.setdefault(event.value, set()).add(event.member)
        if event.kind == "false-positive" and kizuna.book.weight(event.member, TLP.GREEN) >= RELIABLE:
            reliable_fp[event.value] = reliable_fp.get(event.value, 0) + 1
        for method in methods:
            method.apply(event, seq)
            if event.value not in backers:
                continue
            tier, now = tiers[method.name], method.confirmed(event.value)
            if now and event.value not in tier.entered:
                tier.entered[event.value] = event.at
                tier.backers_at_entry[event.value] = len(backers[event.value])
            elif not now and event.value in tier.entered and event.value not in tier.left:
                tier.left[event.value] = event.at
                tier.reliable_fp_at_exit[event.value] = reliable_fp.get(event.value, 0)
    kizuna.proven_first = proven_first  # type: ignore[attr-defined]
    kizuna.backers = {v: len(m) for v, m in backers.items()}  # type: ignore[attr-defined]
    return tiers


def evaluate(name: str, seed: int) -> dict[str, Any]:
    c = build(name, seed)
    index = WarningIndex([("half the benign values", "hostname", c.known_benign)])
    kizuna = Kizuna(index, c.vouched)
    methods: list[Method] = [kizuna, Released(index), Stateless(fixed_source_score, "fixed per source (CIF/IntelMQ)"),
                             Stateless(misp_score, "MISP decay × sightings ratio")]
    tiers = replay(c, methods, kizuna)
    end = c.events[-1].at
    values = sorted(c.truth)
    bad = c.bad or {v for v in values if not c.truth[v]}
    first: dict[str, int] = {}
    for e in c.events:
        if e.kind == "report":
            first.setdefault(e.value, e.at)
    out: dict[str, Any] = {"community": name, "values": len(values), "true": sum(c.truth.values()),
                           "events": len(c.events), "bad": len(bad), "methods": {}}
    for method in methods:
        tier = tiers[method.name]
        scores = {v: method.final(v, end) for v in values}
        pushed = [v for v in bad if v in tier.entered]
        hours = [(tier.left.get(v, end) - tier.entered[v]) / HOUR_MS for v in pushed]
        true_in = [v for v in values if c.truth[v] and v in tier.entered]
        out["methods"][method.name] = {
            "auc": auc(scores, c.truth), "bad_confirmed": len(pushed),
            "bad_hours": statistics.mean(hours) if hours else 0.0, "bad_still": sum(v not in tier.left for v in pushed),
            "true_confirmed": len(true_in),
            "ttc_hours": statistics.median((tier.entered[v] - first[v]) / HOUR_MS for v in true_in)
            if true_in else None,
            "tier": tier,
        }
    new, old = tiers["kizuna"], tiers["kizuna before #14"]
    proven = [v for v in values if c.truth[v] and kizuna.proven_first.get(v) and v in old.entered]  # type: ignore
    # the new rules need a second independent backer: values that never got one cannot confirm by design
    eligible = [v for v in proven if kizuna.backers.get(v, 0) > old.backers_at_entry[v]]  # type: ignore
    extra = [new.backers_at_entry[v] - old.backers_at_entry[v] for v in eligible if v in new.entered]
    out["delay"] = {"proven_true": len(proven), "eligible": len(eligible), "within_one": sum(d <= 1 for d in extra),
                    "never": len(proven) - len(eligible), "not_yet": len(eligible) - len(extra)}
    out["delayed"] = {"count": sum(1 for v in values if c.truth[v] and v in old.entered
                                   and new.entered.get(v, end + 1) > old.entered[v]),
                      "median_hours": statistics.median(
                          [(new.entered.get(v, end) - old.entered[v]) / HOUR_MS for v in values
                           if c.truth[v] and v in old.entered and new.entered.get(v, end + 1) > old.entered[v]] or [0])}
    out["adversaries"] = {a: kizuna.book.weight(a, TLP.GREEN) for a in sorted(c.adversaries)}
    reporters: dict[str, set[str]] = {}
    for e in c.events:
        if e.kind == "report":
            reporters.setdefault(e.value, set()).add(e.member)
    out["single"] = sorted(v for v in bad if len(reporters.get(v, ())) == 1)
    out["sleeper_fps"] = [new.reliable_fp_at_exit.get(v) for v in bad if v in new.entered]
    return out


def targets(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(target, figure, met) for the targets of issue 14."""
    k = {name: r["methods"]["kizuna"] for name, r in results.items()}
    rows = []
    for name in ("pair", "triple", "newcomer wave"):
        rows.append((f"{name}: accounts without track record confirm nothing", f"{k[name]['bad_confirmed']} confirmed",
                     k[name]["bad_confirmed"] == 0))
    farmer = results["farmer"]["adversaries"]["farmer"]
    rows.append(("farmer: corroborating known values earns almost no weight (newcomer 0.20, ≤ 0.30)",
                 f"weight {farmer:.2f}, {k['farmer']['bad_confirmed']} poisoned confirmed",
                 farmer <= 0.30 and k["farmer"]["bad_confirmed"] == 0))
    fps = results["sleeper"]["sleeper_fps"]
    worst = max((f for f in fps if f is not None), default=0)
    rows.append(("sleeper: poisoned values leave after ≤ 2 reliable FP reports",
                 f"{len(fps)} confirmed, {sum(f is None for f in fps)} never left, worst {worst} FP",
                 all(f is not None and f <= 2 for f in fps)))
    rows.append(("friendly: ROC AUC ≥ 0.99", f"{k['friendly']['auc']:.3f}", k["friendly"]["auc"] >= 0.99))
    d = results["friendly"]["delay"]
    share = d["within_one"] / d["eligible"] if d["eligible"] else 1.0
    rows.append(("friendly: true values first reported by a proven member confirm within one more report (≥ 95 %)",
                 f"{d['within_one']} of {d['eligible']} ({share:.0%}); {d['never']} of {d['proven_true']} never got "
                 "a second backer", share >= 0.95))
    rows.append(("flooder: no bad value confirmed", f"{k['flooder']['bad_confirmed']}",
                 k["flooder"]["bad_confirmed"] == 0))
    rows.append(("copycat: copying one member earns too little to confirm with an accomplice",
                 f"weight {results['copycat']['adversaries']['copycat']:.2f}, "
                 f"{k['copycat']['bad_confirmed']} confirmed",
                 k["copycat"]["bad_confirmed"] == 0))
    cdn = results["cdn"]
    single = [v for v in cdn["single"] if v in cdn["methods"]["kizuna"]["tier"].entered]
    rows.append(("cdn: a value one member reported and everyone sights is never confirmed; none stays confirmed",
                 f"{len(single)} of {len(cdn['single'])} single-report confirmed; "
                 f"{k['cdn']['bad_confirmed']} in all, mean {k['cdn']['bad_hours']:.0f} h, "
                 f"{k['cdn']['bad_still']} still",
                 not single and k["cdn"]["bad_still"] == 0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--community", choices=COMMUNITIES, action="append", help="only these (default: all)")
    args = parser.parse_args()
    names = args.community or list(COMMUNITIES)
    console = Console(width=200)
    results = {name: evaluate(name, args.seed) for name in names}
    for name, r in results.items():
        table = Table("method", "ROC AUC", "bad values confirmed", "mean hours confirmed", "still confirmed",
                      "true confirmed", "median hours to confirm", title=f"{name}: {r['values']} values "
                      f"({r['true']} true, {r['bad']} bad), {r['events']} events, seed {args.seed}")
        for method, m in r["methods"].items():
            ttc = "-" if m["ttc_hours"] is None else f"{m['ttc_hours']:.1f}"
            table.add_row(method, f"{m['auc']:.3f}", str(m["bad_confirmed"]), f"{m['bad_hours']:.0f}",
                          str(m["bad_still"]), str(m["true_confirmed"]), ttc)
        console.print(table)
        delayed = r["delayed"]
        d = r["delay"]
        console.print(f"  true values confirmed later than before #14: {delayed['count']}, median "
                      f"{delayed['median_hours']:.1f} h later; of {d['proven_true']} first reported by a proven member "
                      f"{d['within_one']} of the {d['eligible']} that got another backer confirm within one more "
                      "report; "
                      f"adversaries' weight: "
                      + (", ".join(f"{a} {w:.2f}" for a, w in r["adversaries"].items()) or "-"))
    if set(names) != set(COMMUNITIES):
        return
    table = Table("target (issue 14)", "figure", "met", title="targets")
    rows = targets(results)
    for target, figure, met in rows:
        table.add_row(target, figure, "yes" if met else "[red]NO[/]")
    console.print(table)
    if not all(met for *_, met in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
