"""`make eval-scoring`: kizuna's confidence against two baselines on one simulated community.

The community (seeded, so anyone can rerun it):
- honest members with hidden reliabilities: each report is a true indicator with
  that probability, otherwise a benign value reported by mistake;
- benign values are real popular domains from the MISP warning lists (Alexa,
  Tranco); the hub's warning-list index knows only half of them (lists never
  cover every benign value);
- members' SIEMs sight reported values (true ones more often; benign ones too,
  as everyone visits popular sites), and members report false positives with
  noise (mostly on benign values, sometimes wrongly on true ones);
- one poisoner reports popular benign domains, and confirms its own.

Everyone's scores are computed from the same time-ordered events:
- kizuna: the real merge/confidence/reputation code (streams.core), GREEN view;
- CIF/IntelMQ style: a fixed confidence per source, combined noisy-or over sources;
- MISP style: a base score with polynomial decay since the last report, times the
  sightings ratio (sightings against false-positive sightings).

Printed: ROC AUC, precision of the confirmed tier (score ≥ 60), false-positive
reports needed to demote a confirmed benign value, and the poisoner's final
reputation next to the honest members'.
"""
from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from streams.core.canonical import indicator_id
from streams.core.confidence import DAY_MS
from streams.core.merge import Policy, changes, fold, fold_feedback, mark_published, outcomes, view
from streams.core.reputation import Book
from streams.core.warninglists import WarningIndex
from streams.sectors import ALL
from streams.tlp import TLP
from tests.bench.data import indicators

GREEN_ALL = (TLP.GREEN, ALL)
POLICY = Policy(threshold=60, step=1)
T0 = 1_760_000_000_000


@dataclass
class Event:
    at: int
    member: str
    kind: str  # report | sighting | confirm | false-positive
    value: str
    count: int = 1


@dataclass
class Community:
    events: list[Event]
    truth: dict[str, bool]  # value -> is a true indicator
    reliability: dict[str, float]
    poisoner: str
    known_benign: set[str]


def benign_pool(size: int, rng: random.Random) -> list[str]:
    from pymispwarninglists import WarningLists

    lists = WarningLists(slow_search=False).warninglists.values()
    names = sorted({v for wl in lists if "Alexa" in wl.name or "Top 10K most-used sites from Tranco" in wl.name
                    for v in wl.list if v.count(".") == 1 and v.isascii()})
    return rng.sample(names, size)


def simulate(seed: int = 11, members: int = 20, true_count: int = 600, days: int = 30) -> Community:
    rng = random.Random(seed)
    reliability = {f"member-{i:02d}": rng.uniform(0.55, 0.98) for i in range(members)}
    poisoner = "member-poison"
    true_values = sorted({v for k, v in indicators(true_count * 2, duplicate_share=0, seed=seed) if k == "domain-name"})
    true_values = true_values[:true_count]
    benign = benign_pool(400, rng)
    known_benign = set(benign[::2])
    events: list[Event] = []
    horizon = days * DAY_MS
    for member, r in reliability.items():
        for _ in range(rng.randint(20, 60)):
            at = T0 + rng.randrange(horizon)
            value = rng.choice(true_values) if rng.random() < r else rng.choice(benign)
            events.append(Event(at, member, "report", value))
    popular = sorted(known_benign)[:60]
    for value in popular:
        at = T0 + rng.randrange(horizon)
        events.append(Event(at, poisoner, "report", value))
        events.append(Event(at + DAY_MS // 24, poisoner, "confirm", value))
    reported = {e.value for e in events}
    for value in sorted(reported):
        is_true = value in true_values
        first = min(e.at for e in events if e.value == value)
        for member, r in reliability.items():
            at = first + rng.randrange(1, 3 * DAY_MS)
            if rng.random() < (0.30 if is_true else 0.12):  # SIEM matches: benign sites are visited too
                events.append(Event(at, member, "sighting", value, rng.randint(1, 20)))
            if rng.random() < ((0.35 * r) if not is_true else (0.03 * (1 - r))):
                events.append(Event(at + DAY_MS, member, "false-positive", value))
    events.sort(key=lambda e: (e.at, e.member, e.kind, e.value))
    truth = {v: v in true_values for v in reported}
    return Community(events, truth, {**reliability, poisoner: 0.0}, poisoner, known_benign)


@dataclass
class Kizuna:
    index: WarningIndex
    book: Book = field(default_factory=Book)
    states: dict[str, dict] = field(default_factory=dict)
    demotions: list[int] = field(default_factory=list)

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
        pubs = changes(state, self.book.reliability, POLICY)
        mark_published(state, pubs)
        for outcome in outcomes(state, pubs):
            self.book.apply(outcome)

    def score(self, value: str) -> float:
        return view(self.states[indicator_id("domain-name", value)], GREEN_ALL, self.book.reliability)["confidence"]


def fixed_source_score(events: list[Event], value: str, source_confidence: float = 0.5) -> float:
    """CIF/IntelMQ: each source has a fixed confidence; sources combine noisy-or."""
    sources = {e.member for e in events if e.value == value and e.kind == "report"}
    return 100 * (1 - (1 - source_confidence) ** len(sources))


def misp_score(events: list[Event], value: str, now: int, base: float = 80, tau_days: float = 30,
               delta: float = 2) -> float:
    """MISP decaying model (polynomial) times the sightings ratio."""
    mine = [e for e in events if e.value == value]
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


def precision(scores: dict[str, float], truth: dict[str, bool], threshold: float = 60) -> tuple[float, int]:
    confirmed = [v for v, s in scores.items() if s >= threshold]
    return (sum(truth[v] for v in confirmed) / len(confirmed) if confirmed else float("nan")), len(confirmed)


def fp_to_demote(community: Community, score_at) -> float:
    """Mean false-positive reports after which a once-confirmed benign value falls below 60."""
    needed = []
    for value, is_true in community.truth.items():
        if is_true:
            continue
        reports, was_confirmed = 0, False
        for event in (e for e in community.events if e.value == value):
            s = score_at(value, event)
            was_confirmed |= s >= 60
            if event.kind == "false-positive":
                reports += 1
                if was_confirmed and s < 60:
                    needed.append(reports)
                    break
    return sum(needed) / len(needed) if needed else float("nan")


def replay(community: Community, index: WarningIndex) -> tuple[Kizuna, dict[tuple[str, int], float]]:
    """kizuna over the events in order; also each value's score after every event."""
    kizuna = Kizuna(index)
    trace: dict[tuple[str, int], float] = {}
    for seq, event in enumerate(community.events):
        kizuna.apply(event, seq)
        if indicator_id("domain-name", event.value) in kizuna.states:
            trace[(event.value, seq)] = kizuna.score(event.value)
    return kizuna, trace


def run(seed: int) -> dict:
    community = simulate(seed)
    kizuna, trace = replay(community, WarningIndex([("half the benign values", "hostname", community.known_benign)]))
    blind, _ = replay(community, WarningIndex([]))
    now = community.events[-1].at
    values = sorted(community.truth)
    scores = {
        "kizuna": {v: kizuna.score(v) for v in values},
        "kizuna without warning lists": {v: blind.score(v) for v in values},
        "fixed per source (CIF/IntelMQ)": {v: fixed_source_score(community.events, v) for v in values},
        "MISP decay × sightings ratio": {v: misp_score(community.events, v, now) for v in values},
    }
    seq_of = {id(e): i for i, e in enumerate(community.events)}
    prefix: dict[str, list[Event]] = {}

    def baseline_at(fn):
        def score_at(value: str, event: Event) -> float:
            seen = prefix.setdefault(value, [])
            seen.append(event)
            return fn(seen, value)
        return score_at

    demote = {"kizuna": fp_to_demote(community, lambda v, e: trace.get((v, seq_of[id(e)]), 0.0)),
              "kizuna without warning lists": float("nan")}
    prefix.clear()
    demote["fixed per source (CIF/IntelMQ)"] = fp_to_demote(community, baseline_at(fixed_source_score))
    prefix.clear()
    demote["MISP decay × sightings ratio"] = fp_to_demote(community,
                                                          baseline_at(lambda ev, v: misp_score(ev, v, ev[-1].at)))
    honest = {m: kizuna.book.reliability(m, TLP.GREEN) for m in community.reliability if m != community.poisoner}
    return {
        "values": len(values), "true": sum(community.truth.values()), "events": len(community.events),
        "methods": {name: {"auc": auc(s, community.truth), "precision": precision(s, community.truth),
                           "fp_to_demote": demote[name]} for name, s in scores.items()},
        "poisoner_reputation": kizuna.book.reliability(community.poisoner, TLP.GREEN),
        "honest_min": min(honest.values()), "honest_max": max(honest.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    result = run(args.seed)
    console = Console()
    console.print(f"community: {result['values']} reported values ({result['true']} true indicators), "
                  f"{result['events']} events, seed {args.seed}")
    table = Table("method", "ROC AUC", "precision of confirmed (n)", "FP reports to demote")
    for name, m in result["methods"].items():
        p, n = m["precision"]
        demote = m["fp_to_demote"]
        table.add_row(name, f"{m['auc']:.3f}", f"{p:.3f} ({n})",
                      "-" if name == "kizuna without warning lists"
                      else "never" if demote != demote else f"{demote:.1f}")
    console.print(table)
    best_baseline = max(m["auc"] for name, m in result["methods"].items() if not name.startswith("kizuna"))
    console.print(f"kizuna AUC − best baseline: {result['methods']['kizuna']['auc'] - best_baseline:+.3f}")
    console.print(f"poisoner reputation {result['poisoner_reputation']:.3f}; honest members "
                  f"{result['honest_min']:.3f} .. {result['honest_max']:.3f}")


if __name__ == "__main__":
    main()
