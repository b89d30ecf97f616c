"""Why a record is where it is: its evidence terms, each member's weight and the thresholds.

Pure: built from one record's merge state, the reputation book and the policy, for
`kizuna explain`. Members appear only as short labels of their pseudonyms (never a member
id or name), so the output may be pasted into a ticket.
"""
from __future__ import annotations

from typing import Any

from streams.core.confidence import DEFAULT_WEIGHTS
from streams.core.merge import INBOX, Policy, State, audiences, explain, record_status, view
from streams.core.reputation import NEWCOMERS, Book


def label(pseudonym: str) -> str:
    """A short, stable label of a pseudonym (the pseudonym is already a keyed hash of the member id)."""
    return pseudonym if pseudonym in ("", NEWCOMERS) else "m:" + pseudonym[:8]


def _why(shown: dict[str, Any], now: str, general: str | None, policy: Policy) -> list[dict[str, str]]:
    """Reasons, in English and Japanese, for the status on each tier."""
    out = []
    if general == "revoked":
        out.append({"en": "revoked for general members: STIX revocation is final",
                    "ja": "一般会員向けには失効済み（STIX の失効は取り消せません）"})
    if shown["disputed"]:
        out.append({"en": "held back: a reliable member reported it as a false positive",
                    "ja": "保留：信頼できる会員が誤検知と報告しました"})
    if shown["confidence"] < policy.threshold:
        out.append({"en": f"confidence {shown['confidence']} is below the threshold {policy.threshold}",
                    "ja": f"確度 {shown['confidence']} はしきい値 {policy.threshold} 未満です"})
    if shown["backing_groups"] < policy.quorum:
        out.append({"en": f"{shown['backing_groups']} independent group(s) reported or confirmed it; "
                          f"{policy.quorum} are needed (sightings and repeats do not count)",
                    "ja": f"報告・確認した独立グループは {shown['backing_groups']} 件で、{policy.quorum} 件必要です"
                          "（目撃と重複は数えません）"})
    if now == "confirmed" and general != "revoked":
        out.append({"en": f"confirmed: confidence {shown['confidence']} ≥ {policy.threshold}, "
                          f"{shown['backing_groups']} independent groups, no reliable dispute",
                    "ja": f"確認済み：確度 {shown['confidence']} ≥ {policy.threshold}、独立グループ "
                          f"{shown['backing_groups']} 件、信頼できる会員の異議なし"})
    return out


def explanation(state: State, book: Book, policy: Policy) -> dict[str, Any]:
    """Every audience of a record: confidence, status per tier, terms, members' weights and the reasons."""
    out: dict[str, Any] = {
        "id": state["id"], "value": state["value"], "observable": state["observable"],
        "warninglists": list(state["warned"]),
        "thresholds": {"confirm": policy.threshold, "quorum": policy.quorum, "dispute_weight": DEFAULT_WEIGHTS.dispute,
                       "newcomer_weight": book.learning.newcomer},
        "audiences": [],
    }
    for audience in sorted(audiences(state)):
        level, target = audience
        shown = view(state, audience, book)
        signals, terms = explain(state, audience, book)
        now = record_status(shown, policy)
        tiers = {key.split("/")[0]: p["status"] for key, p in state["published"].items()
                 if key.split("/", 1)[1] == f"{level.slug}/{target}"}
        members: dict[str, dict[str, Any]] = {}
        for s in signals:
            entry = members.setdefault(label(s.member), {
                "member": label(s.member), "weight": round(s.weight, 4), "group": label(s.group),
                "credit": round(book.credit(s.member, level), 3), "blame": round(book.blame(s.member, level), 3),
                "signals": []})
            entry["signals"].append(s.kind if s.times == 1 else f"{s.kind}×{s.times}")
        out["audiences"].append({
            "tlp": level.slug, "audience": "inbox" if target.startswith(INBOX) else target,
            "confidence": shown["confidence"], "status": now, "published": tiers,
            "backing_groups": shown["backing_groups"], "disputed": shown["disputed"],
            "terms": [{"rule": t.rule, "group": label(t.group), "member": label(t.member),
                       "log_odds": round(t.value, 4)} for t in terms],
            "members": sorted(members.values(), key=lambda m: (-m["weight"], m["member"])),
            "why": _why(shown, now, tiers.get("general"), policy),
        })
    return out
