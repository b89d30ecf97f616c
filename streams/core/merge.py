"""Merge: fold reports and feedback into per-object state, score it, and decide what to publish.

State per STIX id holds report evidence (one entry per reporter, TLP and
sectors), feedback (one entry per member, kind and TLP), warning-list hits,
what was last published to each audience and tier, and which reputation
outcomes were already credited. Folding is idempotent, so a replay after a
crash changes nothing.

An audience is a (TLP, sector) pair, `all` being the whole community. Each
report reaches its own level on each of its sectors. What an audience sees is
computed only from evidence at or below its level and addressed to its sector
or to everyone (rule 2: evidence never flows down). Each audience has two
tiers: contributors see every record with its status, general members only
confirmed ones; a record that falls below the threshold is revoked for them,
for good (STIX revocation is final).

A provider can withdraw its reports (STIX `revoked`, a MISP attribute deleted, `kizuna
withdraw`): they move from `evidence` to `withdrawn`. Audiences that still see other reports get
a new version; an audience that saw only withdrawn ones is sent the record revoked, on every
tier it reached, and revocation is final there too.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from streams.core.confidence import DEFAULT_WEIGHTS, Signal, Term, backing_groups, confidence, disputed, terms
from streams.core.reputation import Event, Trust, novelty_credit, outcome
from streams.sectors import ALL
from streams.tlp import TLP

State = dict[str, Any]
Audience = tuple[TLP, str]  # (level, sector or ALL)
_RANK = {level.slug: int(level) for level in TLP}
_RECENT_FEEDBACK_IDS = 64  # remembered per feedback entry, so a replayed feedback event counts once


@dataclass(frozen=True)
class Policy:
    threshold: int = 60  # confirmed at or above
    step: int = 10  # confidence move that makes a new version on its own
    quorum: int = 2  # independent backing groups a confirmed record needs (one member never confirms alone)


def _new_state(record: dict[str, Any]) -> State:
    state = {key: record[key] for key in ("id", "stix_type", "observable", "value", "pattern")}
    state.update(evidence={}, feedback={}, warned=[], published={}, credited={})
    return state


def upgrade(state: State | None) -> State | None:
    """State written by an older kizuna, brought to this version's shape (defaults for what it lacked)."""
    if state is None:
        return None
    for key, empty in (("evidence", {}), ("feedback", {}), ("warned", []), ("published", {}), ("credited", {})):
        state.setdefault(key, empty)
    for entry in state["evidence"].values():
        entry.setdefault("recipients", [])
        entry.setdefault("named", None)
        entry.setdefault("detect", True)
    for published in state["published"].values():
        published.setdefault("confidence", 0)
        published.setdefault("status", "unconfirmed")
    return state


def fold(state: State | None, record: dict[str, Any], batch: dict[str, Any]) -> State:
    """Add one report to the state (new state if None). Idempotent.

    `batch` is the NormalizedBatch the record came in: its reporter, sectors and time.
    """
    if state is None:
        state = _new_state(record)
    recipients = batch.get("recipients") or []
    key = f"{batch['reporter']}|{record['tlp']}|{','.join(batch['sectors'])}|{','.join(recipients)}"
    entry = state["evidence"].get(key)
    seen = batch["observed_at"]
    if entry is None:
        state["evidence"][key] = {
            "reporter": batch["reporter"], "tlp": record["tlp"], "sectors": list(batch["sectors"]),
            "recipients": list(recipients), "named": batch.get("named"),
            "first": seen, "last": seen, "types": list(record["indicator_types"]), "body": record["body"],
            "detect": record.get("for_detection", True),
        }
    else:
        entry["detect"] = entry.get("detect", True) or record.get("for_detection", True)
        if seen < entry["first"]:
            entry["first"], entry["body"] = seen, record["body"] or entry["body"]
        entry["last"] = max(entry["last"], seen)
        if record["indicator_types"]:
            entry["types"] = sorted(set(entry["types"]) | set(record["indicator_types"]))
    for name in record.get("warninglists") or ():
        if name not in state["warned"]:
            state["warned"] = sorted({*state["warned"], name})
    return state


def fold_feedback(state: State, item: dict[str, Any]) -> bool:
    """Add one sighting, confirmation or false-positive report. False if already counted."""
    key = f"{item['member']}|{item['kind']}|{item['tlp']}"
    entry = state["feedback"].get(key)
    if entry is None:
        entry = state["feedback"][key] = {"member": item["member"], "kind": item["kind"], "tlp": item["tlp"],
                                          "count": 0, "first": item["observed_at"], "last": item["observed_at"],
                                          "ids": []}
    if item["feedback_id"] in entry["ids"]:
        return False
    entry["ids"] = [*entry["ids"], item["feedback_id"]][-_RECENT_FEEDBACK_IDS:]
    entry["count"] += item["count"]
    entry["first"] = min(entry["first"], item["observed_at"])
    entry["last"] = max(entry["last"], item["observed_at"])
    return True


INBOX = "@"  # an audience "sector" of "@acme" is acme's inbox


def withdraw(state: State, reporter: str, at: int) -> bool:
    """Take back every report `reporter` made of this record (all levels and scopes). Idempotent;
    False if it never reported it."""
    withdrawn = state.setdefault("withdrawn", {})
    for key in [key for key, entry in state["evidence"].items() if entry["reporter"] == reporter]:
        withdrawn[key] = {**state["evidence"].pop(key), "withdrawn_at": at}
    return any(entry["reporter"] == reporter for entry in withdrawn.values())


def audiences(state: State) -> set[Audience]:
    """Each report reaches its own level on each of its sectors (or the whole community),
    or, when it names recipients, only their inboxes."""
    found: set[Audience] = set()
    for entry in state["evidence"].values():
        level = TLP.from_slug(entry["tlp"])
        targets = [INBOX + org for org in entry["recipients"]] or entry["sectors"] or [ALL]
        found.update((level, target) for target in targets)
    return found


def _visible_reports(state: State, audience: Audience, pool: str = "evidence") -> list[dict[str, Any]]:
    """The reports (or, with pool="withdrawn", the withdrawn ones) an audience may see."""
    level, target = audience
    entries = (state.get(pool) or {}).values()
    if target.startswith(INBOX):
        org = target[len(INBOX):]
        return [e for e in entries if _RANK[e["tlp"]] <= level and org in e["recipients"]]
    return [
        e for e in entries
        if _RANK[e["tlp"]] <= level and not e["recipients"]
        and (not e["sectors"] or (target != ALL and target in e["sectors"]))
    ]


def providers(state: State, pub: Publication) -> list[str]:
    """Pseudonyms of the members whose reports this version carries, or, for a revocation after a
    withdrawal, of those who withdrew them (for the audit trail)."""
    pool = "withdrawn" if pub.view.get("withdrawn") else "evidence"
    return sorted({e["reporter"] for e in _visible_reports(state, pub.audience, pool)})


def _visible_feedback(state: State, level: TLP) -> list[dict[str, Any]]:
    return [f for f in state["feedback"].values() if _RANK[f["tlp"]] <= level]


def _signals(state: State, audience: Audience, trust: Trust) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                      list[Signal]]:
    """The reports and feedback an audience may see, and the signals they give (weights and groups at its level)."""
    level = audience[0]
    reports = _visible_reports(state, audience)
    feedback = _visible_feedback(state, level)
    if len(reports) > 1:
        reports.sort(key=lambda e: (e["first"], e["reporter"]))
    group = trust.groups([e["reporter"] for e in reports] + [f["member"] for f in feedback], level)
    weak = DEFAULT_WEIGHTS.not_for_detection
    signals = [Signal(e["reporter"], "report", trust.weight(e["reporter"], level), e["last"], 1, group[e["reporter"]],
                      1.0 if e["detect"] else weak) for e in reports]
    signals += [Signal(f["member"], f["kind"], trust.weight(f["member"], level), f["last"], f["count"],
                       group[f["member"]]) for f in feedback]
    return reports, feedback, signals


def view(state: State, audience: Audience, trust: Trust) -> dict[str, Any]:
    """What readers of one audience see, from the evidence they are entitled to (rule 2)."""
    reports, feedback, signals = _signals(state, audience, trust)
    last_seen = max([e["last"] for e in reports] + [f["last"] for f in feedback])
    return {
        "first_seen": reports[0]["first"],
        "last_seen": last_seen,
        "reporter_count": len({e["reporter"] for e in reports}),
        "indicator_types": sorted({t for e in reports for t in e["types"]}),
        "body": next((e["body"] for e in reports if e["body"]), None),
        "sources": sorted({e["named"] for e in reports if e["named"]}),  # providers who consented to be named
        "sightings": sum(f["count"] for f in feedback if f["kind"] == "sighting"),
        "false_positives": sum(f["count"] for f in feedback if f["kind"] == "false-positive"),
        "warned": bool(state["warned"]),
        "disputed": disputed(signals),
        "backing_groups": backing_groups(signals),
        "for_detection": any(e.get("detect", True) for e in reports),
        "confidence": confidence(signals, bool(state["warned"]), state["observable"], last_seen),
    }


def _withdrawn_view(state: State, audience: Audience) -> dict[str, Any] | None:
    """What an audience is told when every report it saw was withdrawn: the record, revoked."""
    gone = _visible_reports(state, audience, "withdrawn")
    if not gone:
        return None
    gone.sort(key=lambda e: (e["first"], e["reporter"]))
    return {
        "first_seen": gone[0]["first"], "last_seen": max(e["withdrawn_at"] for e in gone), "reporter_count": 0,
        "indicator_types": sorted({t for e in gone for t in e["types"]}),
        "body": next((e["body"] for e in gone if e["body"]), None), "sources": [], "sightings": 0,
        "false_positives": 0, "warned": bool(state["warned"]), "disputed": False, "backing_groups": 0,
        "for_detection": True, "confidence": 0, "withdrawn": True,
    }


def explain(state: State, audience: Audience, trust: Trust) -> tuple[list[Signal], list[Term]]:
    """The signals and log-odds terms behind an audience's confidence (for `kizuna explain`)."""
    reports, feedback, signals = _signals(state, audience, trust)
    last_seen = max([e["last"] for e in reports] + [f["last"] for f in feedback])
    return signals, terms(signals, bool(state["warned"]), state["observable"], last_seen)


def record_status(shown: dict[str, Any], policy: Policy) -> str:
    """confirmed at or above the threshold when a quorum of independent groups backs it and no reliable
    member disputes it (a dispute holds it back at once)."""
    confirmed = shown["confidence"] >= policy.threshold and shown["backing_groups"] >= policy.quorum
    return "confirmed" if confirmed and not shown["disputed"] else "unconfirmed"


# Shown, but no reason for a new version on their own: they move with every repeat and sighting.
# Confidence makes a version when it moves by the policy's step or crosses the threshold.
_MOVING = frozenset({"last_seen", "sightings", "false_positives", "confidence"})


def _digest(shown: dict[str, Any], status: str) -> str:
    """What makes a new version: a new audience, reporter, type or status."""
    material = {k: v for k, v in shown.items() if k not in _MOVING} | {"status": status}
    return hashlib.blake2b(orjson.dumps(material, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@dataclass(slots=True, frozen=True)
class Publication:
    tier: str  # "contributor" (kizuna.contrib.*), "general" (kizuna.share.*) or "recipient" (an inbox)
    audience: Audience
    view: dict[str, Any]
    status: str  # unconfirmed | confirmed | revoked
    modified: int  # epoch ms; strictly increasing per audience
    digest: str


def _key(tier: str, audience: Audience) -> str:
    return f"{tier}/{audience[0].slug}/{audience[1]}"


def _unkey(key: str) -> tuple[str, Audience]:
    tier, level, target = key.split("/", 2)
    return tier, (TLP.from_slug(level), target)


def _moved(last: dict[str, Any] | None, digest: str, shown: dict[str, Any], step: int) -> bool:
    return last is None or last["digest"] != digest or abs(shown["confidence"] - last["confidence"]) >= step


def changes(state: State, trust: Trust, policy: Policy) -> list[Publication]:
    """New versions per audience and tier since the last publication."""
    out = []
    for audience in sorted(audiences(state)):
        shown = view(state, audience, trust)
        now = record_status(shown, policy)
        digest = _digest(shown, now)
        if audience[1].startswith(INBOX):  # named recipients get it directly, whatever its status
            last = state["published"].get(_key("recipient", audience))
            if _moved(last, digest, shown, policy.step) and not _final(last):
                modified = shown["last_seen"] if last is None else max(shown["last_seen"], last["modified"] + 1)
                out.append(Publication("recipient", audience, shown, now, modified, digest))
            continue
        contrib = state["published"].get(_key("contributor", audience))
        general = state["published"].get(_key("general", audience))
        publish_contrib = _moved(contrib, digest, shown, policy.step) and not _final(contrib)
        if general is not None and general["status"] == "revoked":
            publish_general, general_status = False, "revoked"  # revocation is final
        elif now == "confirmed":
            publish_general, general_status = _moved(general, digest, shown, policy.step), "confirmed"
        else:
            publish_general, general_status = general is not None, "revoked"
        if not (publish_contrib or publish_general):
            continue
        previous = max((p["modified"] for p in (contrib, general) if p is not None), default=None)
        modified = shown["last_seen"] if previous is None else max(shown["last_seen"], previous + 1)
        if publish_contrib:
            out.append(Publication("contributor", audience, shown, now, modified, digest))
        if publish_general:
            out.append(Publication("general", audience, shown, general_status, modified, digest))
    return out + _revocations(state)


def _final(last: dict[str, Any] | None) -> bool:
    return last is not None and last["status"] == "revoked"


def _revocations(state: State) -> list[Publication]:
    """Every tier of every audience that saw only withdrawn reports, told the record is revoked (once)."""
    if not state.get("withdrawn"):
        return []
    alive = audiences(state)
    orphaned: dict[Audience, list[tuple[str, dict[str, Any]]]] = {}
    for key, last in state["published"].items():
        tier, audience = _unkey(key)
        if audience not in alive:
            orphaned.setdefault(audience, []).append((tier, last))
    out = []
    for audience, tiers in sorted(orphaned.items()):
        shown = _withdrawn_view(state, audience)
        if shown is None or all(_final(last) for _, last in tiers):
            continue
        modified = max(shown["last_seen"], max(last["modified"] for _, last in tiers) + 1)
        out += [Publication(tier, audience, shown, "revoked", modified, last["digest"])
                for tier, last in sorted(tiers, key=lambda t: t[0]) if not _final(last)]
    return out


def mark_published(state: State, publications: list[Publication]) -> None:
    """Record what was published, after the broker acknowledged it."""
    for pub in publications:
        state["published"][_key(pub.tier, pub.audience)] = {
            "digest": pub.digest, "modified": pub.modified, "confidence": pub.view["confidence"], "status": pub.status,
        }


def _backers_in_order(reports: list[dict[str, Any]], feedback: list[dict[str, Any]]) -> list[str]:
    """Members that reported or confirmed, by when they first did (ties by pseudonym); a sighting
    says a value is in use, not that it is malicious, so it earns no credit."""
    first: dict[str, int] = {}
    for member, at in [(e["reporter"], e["first"]) for e in reports] + \
            [(f["member"], f["first"]) for f in feedback if f["kind"] == "confirm"]:
        first[member] = min(first.get(member, at), at)
    return sorted(first, key=lambda m: (first[m], m))


def outcomes(state: State, publications: list[Publication]) -> list[Event]:
    """Reputation events: who gets credit or blame, once per object and level.

    Confirmed for general members the first time: reporters and confirming members gain credit,
    1 / (n + 1)² for a member that n others had backed before (novelty: re-sending what many
    sent earns almost nothing), each naming the other backers (independence); false-positive
    reporters are blamed. Revoked after that: the reverse. Reporting a warning-listed value
    counts against the reporter at once.
    """
    events = []
    for pub in publications:
        if pub.tier != "general":
            continue
        level, slug = pub.audience[0], pub.audience[0].slug
        credited = state["credited"].get(slug)
        confirmed = pub.status == "confirmed"
        if (confirmed and credited is None) or (pub.status == "revoked" and credited == "confirmed"):
            feedback = _visible_feedback(state, level)
            doubters = {f["member"] for f in feedback if f["kind"] == "false-positive"}
            if not confirmed and not doubters and _visible_reports(state, pub.audience, "withdrawn"):
                state["credited"][slug] = "withdrawn"  # support taken back is no refutation: nobody is blamed
                continue
            state["credited"][slug] = "confirmed" if confirmed else "refuted"
            everyone = _backers_in_order(_visible_reports(state, pub.audience), feedback)
            backers = [m for m in everyone if m not in doubters]
            cause = f"{state['id']}|{slug}|{state['credited'][slug]}"
            events += [outcome(m, level, confirmed, f"{cause}|{m}", pub.modified, novelty_credit(n),
                               [b for b in backers if b != m]) for n, m in enumerate(backers)]
            events += [outcome(m, level, not confirmed, f"{cause}|{m}", pub.modified)
                       for m in sorted(doubters - set(everyone))]
    if state["warned"]:
        for entry in state["evidence"].values():
            cause = f"warn|{entry['reporter']}|{entry['tlp']}"
            if cause not in state["credited"]:
                state["credited"][cause] = "refuted"
                events.append(outcome(entry["reporter"], TLP.from_slug(entry["tlp"]), False,
                                      f"{state['id']}|{cause}", entry["first"]))
    return events
