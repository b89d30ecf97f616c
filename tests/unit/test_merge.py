from streams.core.merge import Policy, audiences, changes, fold, fold_feedback, mark_published, outcomes, view
from streams.sectors import ALL
from streams.tlp import TLP

T0 = 1_700_000_000_000
POLICY = Policy(threshold=60, step=10)


def newcomer(member, level):
    return 0.5


def record(reporter="m-a", tlp="green", sectors=(), at=T0, types=(), warned=()):
    """(record, the batch it arrives in)"""
    item = {"id": "indicator--1", "stix_type": "indicator", "tlp": tlp, "observable": "domain-name",
            "value": "evil.example", "pattern": None, "indicator_types": list(types), "body": None,
            "warninglists": list(warned)}
    return item, {"submission_id": "s", "reporter": reporter, "sectors": list(sectors), "observed_at": at}


def feedback(member, kind="sighting", tlp="green", at=T0, count=1, fid=None):
    return {"feedback_id": fid or f"{member}-{kind}-{tlp}-{at}", "id": "indicator--1", "member": member, "kind": kind,
            "count": count, "tlp": tlp, "observed_at": at}


def publish(state, rel=newcomer):
    pubs = changes(state, rel, POLICY)
    mark_published(state, pubs)
    return pubs


def shape(pubs):
    return [(p.tier, p.audience, p.status) for p in pubs]


def test_one_report_goes_to_contributors_only():
    state = fold(None, *record())
    pubs = publish(state)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed")]
    assert pubs[0].view["confidence"] == 59 and pubs[0].modified == T0
    assert publish(state) == []


def test_repeat_by_same_reporter_moves_last_seen_but_is_not_republished():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(at=T0 + 5000))
    assert view(state, (TLP.GREEN, ALL), newcomer)["last_seen"] == T0 + 5000
    assert publish(state) == []


def test_replay_changes_nothing():
    state = fold(None, *record())
    publish(state)
    assert fold_feedback(state, feedback("m-b"))
    before = repr(state)
    fold(state, *record())
    assert not fold_feedback(state, feedback("m-b"))
    assert repr(state) == before


def test_sightings_confirm_then_false_positives_revoke_for_good():
    state = fold(None, *record())
    publish(state)
    fold_feedback(state, feedback("m-b", at=T0 + 1))
    pubs = publish(state)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "confirmed"), ("general", (TLP.GREEN, ALL), "confirmed")]
    assert pubs[0].modified == pubs[1].modified == T0 + 1
    reliable = lambda member, level: 0.9 if member.startswith("m-fp") else 0.5  # noqa: E731
    fold_feedback(state, feedback("m-fp1", "false-positive", at=T0 + 2))
    pubs = publish(state, reliable)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "unconfirmed"), ("general", (TLP.GREEN, ALL), "revoked")]
    for member in ("m-c", "m-d", "m-e"):
        fold_feedback(state, feedback(member, "confirm", at=T0 + 3))
    pubs = publish(state, reliable)
    assert shape(pubs) == [("contributor", (TLP.GREEN, ALL), "confirmed")]  # revoked stays revoked


def test_new_reporter_is_a_new_version_with_a_later_modified():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(reporter="m-b", at=T0))  # same millisecond: modified still moves forward
    pubs = publish(state)
    assert [p.view["reporter_count"] for p in pubs] == [2, 2]
    assert {p.modified for p in pubs} == {T0 + 1}


def test_small_confidence_moves_are_not_versions():
    state = fold(None, *record())
    fold_feedback(state, feedback("m-b", at=T0))
    publish(state)
    fold_feedback(state, feedback("m-b", count=3, fid="again", at=T0 + 1))  # same member: +0.27 log-odds
    assert publish(state) == []


def test_amber_evidence_never_changes_the_green_view():
    state = fold(None, *record())
    publish(state)
    green_before = view(state, (TLP.GREEN, ALL), newcomer)
    fold(state, *record(reporter="m-b", tlp="amber", at=T0 + 10))
    fold_feedback(state, feedback("m-c", tlp="amber", at=T0 + 11))
    fold_feedback(state, feedback("m-d", "false-positive", tlp="amber", at=T0 + 12))
    pubs = publish(state)
    assert {p.audience for p in pubs} == {(TLP.AMBER, ALL)}
    assert view(state, (TLP.GREEN, ALL), newcomer) == green_before


def test_sector_evidence_reaches_only_that_sector():
    state = fold(None, *record(sectors=["finance"]))
    fold(state, *record(reporter="m-b"))
    assert audiences(state) == {(TLP.GREEN, "finance"), (TLP.GREEN, ALL)}
    assert view(state, (TLP.GREEN, ALL), newcomer)["reporter_count"] == 1
    assert view(state, (TLP.GREEN, "finance"), newcomer)["reporter_count"] == 2


def test_order_of_arrival_does_not_change_the_state():
    a, b, c = record(at=T0 + 2), record(reporter="m-b", at=T0), record(at=T0 + 1, types=["x"])
    first = fold(fold(fold(None, *a), *b), *c)
    second = fold(fold(fold(None, *c), *a), *b)
    assert view(first, (TLP.GREEN, ALL), newcomer) == view(second, (TLP.GREEN, ALL), newcomer)


def test_outcomes_credit_backers_and_blame_doubters_once_per_level():
    state = fold(None, *record())
    fold_feedback(state, feedback("m-b", at=T0 + 1))
    events = outcomes(state, publish(state))
    assert sorted((e["member"], e["alpha"], e["beta"]) for e in events) == [("m-a", 1, 0), ("m-b", 1, 0)]
    fold_feedback(state, feedback("m-fp", "false-positive", at=T0 + 2))
    events = outcomes(state, publish(state, lambda member, level: 0.95 if member == "m-fp" else 0.5))
    assert sorted((e["member"], e["alpha"], e["beta"]) for e in events) == [("m-a", 0, 1), ("m-b", 0, 1),
                                                                            ("m-fp", 1, 0)]
    assert len({e["cause"] for e in events}) == 3


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
    assert fold_feedback(state, feedback("m-b", at=T0 + 1))
    assert [p.status for p in publish(state)] == ["confirmed", "confirmed"]
