"""`kizuna explain`'s pure part: terms, pseudonymous labels, reasons (en and ja) and thresholds."""
from streams.core.explain import explanation, label
from streams.core.merge import Policy, changes, fold, fold_feedback, mark_published
from streams.core.reputation import Book, vouch
from streams.tlp import TLP

T0 = 1_700_000_000_000
A, B, C = "a" * 64, "b" * 64, "c" * 64  # pseudonyms are keyed hashes (hex)


def state_with(*evidence):
    item = {"id": "indicator--1", "stix_type": "indicator", "tlp": "green", "observable": "domain-name",
            "value": "evil.example", "pattern": None, "indicator_types": [], "body": None, "warninglists": []}
    state = None
    for n, (member, kind) in enumerate(evidence):
        if kind == "report":
            batch = {"submission_id": str(n), "reporter": member, "sectors": [], "observed_at": T0 + n}
            state = fold(state, item, batch)
        else:
            fold_feedback(state, {"feedback_id": str(n), "id": "indicator--1", "member": member, "kind": kind,
                                  "count": 1, "tlp": "green", "observed_at": T0 + n})
    return state


def test_labels_never_carry_more_than_a_pseudonym_prefix():
    assert label(A) == "m:aaaaaaaa" and label("newcomers") == "newcomers" and label("") == ""


def test_a_confirmed_then_disputed_record_explains_itself():
    book, policy = Book(), Policy()
    for member in (A, B, C):
        book.apply(vouch(member, TLP.CLEAR, T0))
    state = state_with((A, "report"), (B, "confirm"))
    mark_published(state, changes(state, book, policy))
    shown = explanation(state, book, policy)["audiences"][0]
    assert (shown["tlp"], shown["audience"], shown["status"], shown["confidence"]) == ("green", "all", "confirmed", 75)
    assert shown["published"] == {"contributor": "confirmed", "general": "confirmed"}
    assert [r["en"].split(":")[0] for r in shown["why"]] == ["confirmed"]
    fold_feedback(state, {"feedback_id": "fp", "id": "indicator--1", "member": C, "kind": "false-positive",
                          "count": 1, "tlp": "green", "observed_at": T0 + 9})
    mark_published(state, changes(state, book, policy))
    explained = explanation(state, book, policy)
    shown = explained["audiences"][0]
    assert shown["published"]["general"] == "revoked" and shown["disputed"]
    assert [r["en"].split(":")[0] for r in shown["why"]] == [
        "revoked for general members", "held back", "confidence 46 is below the threshold 60"]
    assert all(r["ja"] for r in shown["why"])
    # -0.8473 + 1.5 * 5.8/9 * 2 - 3.0 * (5.8/9)² = -0.8473 + 0.9667 + 0.9667 - 1.2459
    assert [(t["rule"], t["member"], t["log_odds"]) for t in shown["terms"]] == [
        ("prior", "", -0.8473), ("backing", "m:aaaaaaaa", 0.9667), ("backing", "m:bbbbbbbb", 0.9667),
        ("false-positive", "m:cccccccc", -1.2459)]
    assert {m["member"]: m["signals"] for m in shown["members"]} == {
        "m:aaaaaaaa": ["report"], "m:bbbbbbbb": ["confirm"], "m:cccccccc": ["false-positive"]}
    assert explained["thresholds"] == {"confirm": 60, "quorum": 2, "dispute_weight": 0.5, "newcomer_weight": 0.2}
    assert A not in str(explained) and B not in str(explained)
