"""Merge, tiers and reputation outcomes (hand-computed; docs/confidence.md)."""
from streams.core.merge import (
    Policy,
    audiences,
    changes,
    explain,
    fold,
    fold_feedback,
    mark_published,
    outcomes,
    providers,
    view,
    withdraw,
)
from streams.core.reputation import Book, vouch
from streams.sectors import ALL
from streams.tlp import TLP

T0 = 1_700_000_000_000
POLICY = Policy(threshold=60, step=10)
NEWCOMERS = Book()  # nobody has a track record: every member weighs 0.2, all in one group


def vouched(*members):
    """A book in which the operator vouched for `members` (credit 5: weight 5.8 / 9 = 0.6444)."""
    book = Book()
    for member in members:
        book.apply(vouch(member, TLP.CLEAR, T0))
    return book


def record(reporter="m-a", tlp="green", sectors=(), at=T0, types=(), warned=(), for_detection=True):
    """(record, the batch it arrives in)"""
    item = {"id": "indicator--1", "stix_type": "indicator", "tlp": tlp, "observable": "domain-name",
            "value": "evil.example", "pattern": None, "indicator_types": list(types), "body": None,
            "warninglists": list(warned), "for_detection": for_detection}
    return item, {"submission_id": "s", "reporter": reporter, "sectors": list(sectors), "observed_at": at}


def feedback(member, kind="sighting", tlp="green", at=T0, count=1, fid=None):
    return {"feedback_id": fid or f"{member}-{kind}-{tlp}-{at}", "id": "indicator--1", "member": member, "kind": kind,
            "count": count, "tlp": tlp, "observed_at": at}


def publish(state, trust=NEWCOMERS):
    pubs = changes(state, trust, POLICY)
    mark_published(state, pubs)
    return pubs


def shape(pubs):
    return [(p.tier, p.audience, p.status) for p in pubs]


def test_one_report_goes_to_contributors_only():
    state = fold(None, *record())
    pubs = publish(state)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed")]
    # logit(0.3) + 1.5 * 0.2 = -0.5473 -> 36.6 %
    assert pubs[0].view["confidence"] == 37 and pubs[0].modified == T0
    assert publish(state) == []


def test_repeat_by_same_reporter_moves_last_seen_but_is_not_republished():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(at=T0 + 5000))
    assert view(state, (TLP.GREEN, ALL), NEWCOMERS)["last_seen"] == T0 + 5000
    assert publish(state) == []


def test_replay_changes_nothing():
    state = fold(None, *record())
    publish(state)
    assert fold_feedback(state, feedback("m-b"))
    before = repr(state)
    fold(state, *record())
    assert not fold_feedback(state, feedback("m-b"))
    assert repr(state) == before


def test_two_vouched_members_confirm_and_a_reliable_dispute_revokes_at_once():
    trust = vouched("m-a", "m-b", "m-fp")
    state = fold(None, *record())
    publish(state, trust)
    fold(state, *record(reporter="m-b", at=T0 + 1))
    pubs = publish(state, trust)
    # -0.8473 + 2 * 1.5 * 0.6444 = 1.0860 -> 74.8 %, two independent groups
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "confirmed"), ("general", (TLP.GREEN, ALL), "confirmed")]
    assert pubs[0].view["confidence"] == 75 and pubs[0].modified == pubs[1].modified == T0 + 1
    fold_feedback(state, feedback("m-fp", "false-positive", at=T0 + 2))
    pubs = publish(state, trust)
    # 1.0860 - 3.0 * 0.6444² = -0.1598 -> 46.0 %; and held back by the dispute whatever the score
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed"), ("general", (TLP.GREEN, ALL), "revoked")]
    assert pubs[0].view["confidence"] == 46 and pubs[0].view["disputed"]
    for member in ("m-c", "m-d", "m-e"):
        fold_feedback(state, feedback(member, "confirm", at=T0 + 3))
    assert [p.tier for p in publish(state, trust)] in ([], ["contributor"])  # revoked stays revoked


def test_a_dispute_holds_back_a_record_whose_score_is_still_above_the_threshold():
    trust = vouched("m-a", "m-b", "m-c", "m-fp")
    state = fold(None, *record())
    for member in ("m-b", "m-c"):
        fold(state, *record(reporter=member, at=T0 + 1))
    assert shape(publish(state, trust))[1] == ("general", (TLP.GREEN, ALL), "confirmed")
    fold_feedback(state, feedback("m-fp", "false-positive", at=T0 + 2))
    # -0.8473 + 3 * 1.5 * 0.6444 - 3.0 * 0.6444² = 0.8069 -> 69.1 %
    pubs = publish(state, trust)
    assert pubs[0].view["confidence"] == 69 and pubs[0].view["disputed"]
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed"), ("general", (TLP.GREEN, ALL), "revoked")]


def test_a_newcomer_disputing_does_not_hold_back():
    trust = vouched("m-a", "m-b")
    state = fold(None, *record())
    fold(state, *record(reporter="m-b"))
    fold_feedback(state, feedback("m-new", "false-positive", at=T0 + 1))
    # 1.0860 - 3.0 * 0.2² = 0.9660 -> 72.4 %: a dispute needs standing
    shown = view(state, (TLP.GREEN, ALL), trust)
    assert shown["confidence"] == 72 and not shown["disputed"]


def test_two_members_without_track_record_never_confirm():
    state = fold(None, *record())
    fold_feedback(state, feedback("m-b", "confirm", at=T0 + 1))
    fold_feedback(state, feedback("m-c", count=50, at=T0 + 1))
    pubs = publish(state)
    # one group (newcomers): -0.8473 + 1.5 * 0.2 + 0.25 * 0.2 * (1 + 0.1 ln 50) = -0.4777 -> 38.3 %
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed")]
    assert pubs[0].view["confidence"] == 38 and pubs[0].view["backing_groups"] == 1


def test_sightings_alone_never_make_the_quorum():
    trust = vouched("m-a", "m-b")
    state = fold(None, *record())
    fold_feedback(state, feedback("m-b", count=12, at=T0 + 1))
    # -0.8473 + 1.5 * 0.6444 + 0.25 * 0.6444 * (1 + 0.1 ln 12) = 0.3205 -> 57.9 %
    pubs = publish(state, trust)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed")]
    assert pubs[0].view["confidence"] == 58


def test_not_marked_for_detection_weighs_half():
    trust = vouched("m-a", "m-b")
    state = fold(None, *record(for_detection=False))
    fold(state, *record(reporter="m-b", for_detection=False))
    # -0.8473 + 2 * 0.5 * 1.5 * 0.6444 = 0.1194 -> 53.0 %: two vouched members, still unconfirmed
    assert view(state, (TLP.GREEN, ALL), trust)["confidence"] == 53


def test_explain_lists_the_terms_that_sum_to_the_score():
    trust = vouched("m-a", "m-b")
    state = fold(None, *record())
    fold(state, *record(reporter="m-b"))
    fold_feedback(state, feedback("m-c", "false-positive"))
    signals, terms = explain(state, (TLP.GREEN, ALL), trust)
    assert [(t.rule, t.group, round(t.value, 4)) for t in terms] == [
        ("prior", "", -0.8473), ("backing", "m-a", 0.9667), ("backing", "m-b", 0.9667),
        ("false-positive", "newcomers", -0.12)]
    assert {s.member: s.group for s in signals} == {"m-a": "m-a", "m-b": "m-b", "m-c": "newcomers"}


def test_new_reporter_is_a_new_version_with_a_later_modified():
    trust = vouched("m-a", "m-b")
    state = fold(None, *record())
    publish(state, trust)
    fold(state, *record(reporter="m-b", at=T0))  # same millisecond: modified still moves forward
    pubs = publish(state, trust)  # contributors and (now confirmed) general members
    assert [p.view["reporter_count"] for p in pubs] == [2, 2]
    assert {p.modified for p in pubs} == {T0 + 1}


def test_small_confidence_moves_are_not_versions():
    state = fold(None, *record())
    fold_feedback(state, feedback("m-b", at=T0))
    publish(state)
    fold_feedback(state, feedback("m-b", count=3, fid="again", at=T0 + 1))  # same member: +0.007 log-odds
    assert publish(state) == []


def test_amber_evidence_never_changes_the_green_view():
    state = fold(None, *record())
    publish(state)
    green_before = view(state, (TLP.GREEN, ALL), NEWCOMERS)
    fold(state, *record(reporter="m-b", tlp="amber", at=T0 + 10))
    fold_feedback(state, feedback("m-c", tlp="amber", at=T0 + 11))
    fold_feedback(state, feedback("m-d", "false-positive", tlp="amber", at=T0 + 12))
    pubs = publish(state)
    assert {p.audience for p in pubs} == {(TLP.AMBER, ALL)}
    assert view(state, (TLP.GREEN, ALL), NEWCOMERS) == green_before


def test_sector_evidence_reaches_only_that_sector():
    state = fold(None, *record(sectors=["finance"]))
    fold(state, *record(reporter="m-b"))
    assert audiences(state) == {(TLP.GREEN, "finance"), (TLP.GREEN, ALL)}
    assert view(state, (TLP.GREEN, ALL), NEWCOMERS)["reporter_count"] == 1
    assert view(state, (TLP.GREEN, "finance"), NEWCOMERS)["reporter_count"] == 2


def test_order_of_arrival_does_not_change_the_state():
    a, b, c = record(at=T0 + 2), record(reporter="m-b", at=T0), record(at=T0 + 1, types=["x"])
    first = fold(fold(fold(None, *a), *b), *c)
    second = fold(fold(fold(None, *c), *a), *b)
    assert view(first, (TLP.GREEN, ALL), NEWCOMERS) == view(second, (TLP.GREEN, ALL), NEWCOMERS)


def test_outcomes_credit_backers_by_novelty_and_blame_doubters_once_per_level():
    trust = vouched("m-a", "m-b", "m-fp")
    state = fold(None, *record())
    fold_feedback(state, feedback("m-s", at=T0))  # a sighting: relevance, no credit
    fold_feedback(state, feedback("m-b", "confirm", at=T0 + 1))
    events = outcomes(state, publish(state, trust))
    assert sorted((e["member"], e["alpha"], e["beta"], tuple(e.get("together", ()))) for e in events) == [
        ("m-a", 1.0, 0, ("m-b",)), ("m-b", 0.25, 0, ("m-a",))]  # the second backer: 1 / (1 + 1)^2
    fold_feedback(state, feedback("m-fp", "false-positive", at=T0 + 2))
    events = outcomes(state, publish(state, trust))
    assert sorted((e["member"], e["alpha"], e["beta"]) for e in events) == [
        ("m-a", 0, 1), ("m-b", 0, 1), ("m-fp", 1.0, 0)]
    assert len({e["cause"] for e in events}) == 3
    assert outcomes(state, publish(state, trust)) == []


def test_warning_listed_reports_count_against_the_reporter():
    state = fold(None, *record(warned=["Top 1,000,000 most-used sites from Tranco"]))
    pubs = publish(state)
    assert pubs[0].view["confidence"] < 10 and pubs[0].view["warned"]
    events = outcomes(state, pubs)
    assert [(e["member"], e["alpha"], e["beta"]) for e in events] == [("m-a", 0, 1)]
    assert outcomes(state, []) == []


def test_state_from_the_first_release_is_upgraded():
    first_release = {"id": "indicator--1", "stix_type": "indicator", "observable": "domain-name",
                     "value": "evil.example", "pattern": None,
                     "evidence": {"m-a|green|": {"reporter": "m-a", "tlp": "green", "sectors": [], "first": T0,
                                                 "last": T0, "types": [], "body": None}},
                     "published": {"green/all": {"digest": "x", "modified": T0}}}
    from streams.core.merge import upgrade

    state = upgrade(first_release)
    assert fold_feedback(state, feedback("m-b", "confirm", at=T0 + 1))
    assert [p.status for p in publish(state, vouched("m-a", "m-b"))] == ["confirmed", "confirmed"]


def withdrawal_test_state(trust):
    """m-a and m-b (vouched) confirm evil.example for GREEN/all; m-a also sent it to acme's inbox."""
    state = fold(None, *record())
    fold(state, *record(reporter="m-b", at=T0 + 1))
    item, batch = record(at=T0 + 2)
    fold(state, item, {**batch, "recipients": ["acme"]})
    assert len(outcomes(state, publish(state, trust))) == 2  # both credited for the confirmation
    return state


def test_a_withdrawal_leaves_others_reports_and_revokes_where_it_was_alone():
    trust = vouched("m-a", "m-b")
    state = withdrawal_test_state(trust)
    assert withdraw(state, "m-a", T0 + 10)
    pubs = publish(state, trust)
    # GREEN/all still has m-b's report: a new version (one reporter, below quorum: revoked for general members);
    # acme's inbox saw m-a's report only: revoked there, as of the withdrawal
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed"), ("general", (TLP.GREEN, ALL), "revoked"),
                           ("recipient", (TLP.GREEN, "@acme"), "revoked")]
    inbox = pubs[2]
    assert inbox.view["withdrawn"] and inbox.view["reporter_count"] == 0 and inbox.modified == T0 + 10
    assert inbox.view["first_seen"] == T0 + 2  # `created` stays the first version's
    assert pubs[0].view["reporter_count"] == 1
    assert providers(state, inbox) == ["m-a"] and providers(state, pubs[0]) == ["m-b"]
    # support taken back is not a refutation: nobody is blamed, and nobody credited again
    assert outcomes(state, pubs) == [] and state["credited"]["green"] == "withdrawn"


def test_when_every_provider_withdraws_every_tier_is_revoked_once_and_for_good():
    trust = vouched("m-a", "m-b")
    state = withdrawal_test_state(trust)
    withdraw(state, "m-a", T0 + 10)
    withdraw(state, "m-b", T0 + 11)
    pubs = publish(state, trust)
    assert shape(pubs) == [("recipient", (TLP.GREEN, "@acme"), "revoked"), ("contributor", (TLP.GREEN, ALL), "revoked"),
                           ("general", (TLP.GREEN, ALL), "revoked")]
    assert [p.modified for p in pubs] == [T0 + 10, T0 + 11, T0 + 11]  # when what each audience saw was withdrawn
    assert publish(state, trust) == []
    assert withdraw(state, "m-a", T0 + 12)  # a replayed withdrawal: still "had something", changes nothing
    assert publish(state, trust) == []
    fold(state, *record(reporter="m-c", at=T0 + 20))  # a later report: revocation is final for those audiences
    assert publish(state, trust) == []


def test_withdrawing_what_one_never_reported_is_a_no_op():
    state = fold(None, *record())
    publish(state)
    before = repr(state)
    assert not withdraw(state, "m-z", T0 + 5)
    assert publish(state) == [] and "m-a" in repr(state) and repr(state).count("evidence") == before.count("evidence")
