from streams.core.merge import audiences, changes, fold, mark_published, view
from streams.sectors import ALL
from streams.tlp import TLP

T0 = 1_700_000_000_000


def record(reporter="m-a", tlp="green", sectors=(), at=T0, types=()):
    """(record, the batch it arrives in)"""
    item = {"id": "indicator--1", "stix_type": "indicator", "tlp": tlp, "observable": "domain-name",
            "value": "evil.example", "pattern": None, "indicator_types": list(types), "body": None}
    return item, {"submission_id": "s", "reporter": reporter, "sectors": list(sectors), "observed_at": at}


def publish(state):
    pubs = changes(state)
    mark_published(state, pubs)
    return pubs


def test_first_report_publishes_once():
    state = fold(None, *record())
    pubs = publish(state)
    assert [(p.audience, p.modified) for p in pubs] == [((TLP.GREEN, ALL), T0)]
    assert publish(state) == []


def test_repeat_by_same_reporter_moves_last_seen_but_is_not_republished():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(at=T0 + 5000))
    assert view(state, (TLP.GREEN, ALL))["last_seen"] == T0 + 5000
    assert publish(state) == []


def test_replay_changes_nothing():
    state = fold(None, *record())
    publish(state)
    before = repr(state)
    fold(state, *record())
    assert repr(state) == before


def test_new_reporter_is_a_new_version_with_a_later_modified():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(reporter="m-b", at=T0))  # same millisecond: modified still moves forward
    pubs = publish(state)
    assert len(pubs) == 1
    assert pubs[0].view["reporter_count"] == 2
    assert pubs[0].modified == T0 + 1


def test_amber_evidence_never_changes_the_green_view():
    state = fold(None, *record())
    publish(state)
    fold(state, *record(reporter="m-b", tlp="amber", at=T0 + 10))
    pubs = publish(state)
    assert [p.audience for p in pubs] == [(TLP.AMBER, ALL)]
    assert pubs[0].view["reporter_count"] == 2
    assert view(state, (TLP.GREEN, ALL))["reporter_count"] == 1


def test_sector_evidence_reaches_only_that_sector():
    state = fold(None, *record(sectors=["finance"]))
    fold(state, *record(reporter="m-b"))
    assert audiences(state) == {(TLP.GREEN, "finance"), (TLP.GREEN, ALL)}
    assert view(state, (TLP.GREEN, ALL))["reporter_count"] == 1  # the community does not see finance's report
    assert view(state, (TLP.GREEN, "finance"))["reporter_count"] == 2


def test_indicator_types_union_is_a_change():
    state = fold(None, *record(types=["malicious-activity"]))
    publish(state)
    fold(state, *record(types=["anomalous-activity"], at=T0 + 1))
    pubs = publish(state)
    assert pubs[0].view["indicator_types"] == ["anomalous-activity", "malicious-activity"]


def test_order_of_arrival_does_not_change_the_state():
    a, b, c = record(at=T0 + 2), record(reporter="m-b", at=T0), record(at=T0 + 1, types=["x"])
    first = fold(fold(fold(None, *a), *b), *c)
    second = fold(fold(fold(None, *c), *a), *b)
    assert view(first, (TLP.GREEN, ALL)) == view(second, (TLP.GREEN, ALL))
