from dataclasses import replace

from streams.core.items import Item, Parsed, Problem, Reason
from streams.core.normalize import Normalized, batches, merge_partition, normalize, pseudonym
from streams.records import Rejection
from streams.tlp import TLP


def submission(**overrides):
    base = {"submission_id": "s-1", "submitter": "acme", "received_at": 1_700_000_000_000, "format": "auto",
            "filename": "x", "tlp": None, "sectors": [], "payload": b""}
    return base | overrides


def item(value="evil.example", tlp=None):
    return Item(id=f"indicator--{value}", stix_type="indicator", where=f"line {value}", tlp=tlp,
                observable="domain-name", value=value, pattern=f"[domain-name:value = '{value}']")


def test_pseudonym_is_keyed_and_stable():
    assert pseudonym(b"k1", "acme") == pseudonym(b"k1", "acme")
    assert pseudonym(b"k1", "acme") != pseudonym(b"k2", "acme")
    assert "acme" not in pseudonym(b"k1", "acme")


def test_no_tlp_is_rejected_never_guessed():
    out = normalize(submission(), Parsed("csv", items=[item()]), "m-1")
    assert out.records == []
    assert [r["code"] for r in out.rejections] == [Reason.NO_TLP]


def test_default_tlp_applies_and_the_objects_own_marking_wins():
    parsed = Parsed("stix", items=[item("a.example"), item("b.example", TLP.AMBER), item("c.example", TLP.CLEAR)])
    out = normalize(submission(tlp="green"), parsed, "m-1")
    assert {r["value"]: r["tlp"] for r in out.records} == {"a.example": "green", "b.example": "amber",
                                                           "c.example": "clear"}


def test_a_misp_distribution_narrower_than_the_stated_tlp_stops_until_overridden():
    narrowed = Item(id="indicator--1", stix_type="indicator", where="attribute a-1", tlp=TLP.RED,
                    observable="domain-name", value="evil.example",
                    audience="distribution 0 (your organisation only)", tagged=None)
    out = normalize(submission(tlp="green"), Parsed("misp", items=[narrowed]), "m-1")
    assert out.records == [] and [r["code"] for r in out.rejections] == [Reason.DISTRIBUTION]
    assert "--override-distribution" in out.rejections[0]["reason"]
    out = normalize({**submission(tlp="green"), "override_distribution": True}, Parsed("misp", items=[narrowed]), "m-1")
    assert [(r["value"], r["tlp"]) for r in out.records] == [("evil.example", "green")]
    tagged_red = replace(narrowed, tagged=TLP.RED)
    overridden = {**submission(tlp="green"), "override_distribution": True}
    out = normalize(overridden, Parsed("misp", items=[tagged_red]), "m-1")
    assert [r["code"] for r in out.rejections] == [Reason.RED_NEEDS_RECIPIENTS]  # its own tlp:red tag still holds


def test_red_is_rejected_until_recipients_are_named():
    out = normalize(submission(tlp="red"), Parsed("csv", items=[item()]), "m-1")
    assert [r["code"] for r in out.rejections] == [Reason.RED_NEEDS_RECIPIENTS]


def test_unknown_sector_rejects_everything_rather_than_widen():
    out = normalize(submission(tlp="green", sectors=["finance", "casinos"]), Parsed("csv", items=[item()]), "m-1")
    assert out.records == []
    assert out.rejections[0]["code"] == Reason.UNKNOWN_SECTOR


def test_records_carry_pseudonym_not_member():
    out = normalize(submission(tlp="green", sectors=["Finance", "energy"]), Parsed("csv", items=[item()]), "m-xyz")
    assert out.context["reporter"] == "m-xyz"
    assert out.context["sectors"] == ["electricity", "finance"]
    assert "acme" not in str(out.records) + str(out.context)


def test_duplicates_in_one_submission_become_one_record_at_the_narrowest_level():
    parsed = Parsed("stix", items=[item(tlp=TLP.GREEN), item(tlp=TLP.AMBER)])
    out = normalize(submission(), parsed, "m-1")
    assert [(r["value"], r["tlp"]) for r in out.records] == [("evil.example", "amber")]


def test_problems_become_rejections_with_where_and_reason():
    parsed = Parsed("csv", items=[item()], problems=[Problem("line 3", Reason.INVALID_VALUE, "not a domain")])
    out = normalize(submission(tlp="green"), parsed, "m-1")
    assert len(out.records) == 1
    assert out.rejections == [{"submission_id": "s-1", "reporter": "m-1", "where": "line 3", "code": "invalid-value",
                               "reason": "not a domain", "format": "csv", "received_at": "2023-11-14T22:13:20Z",
                               "outcome": "rejected"}]
    Rejection(**out.rejections[0])  # the documented contract of kizuna.rejected


def test_batches_group_by_partition_and_size():
    result = Normalized(context={"submission_id": "s", "reporter": "m-1", "sectors": [], "observed_at": 1},
                        records=[{"id": f"indicator--{i}"} for i in range(100)])
    grouped = batches(result, partitions=4, size=10)
    assert sum(len(batch["records"]) for _, batch in grouped) == 100
    for partition, batch in grouped:
        assert len(batch["records"]) <= 10 and batch["reporter"] == "m-1"
        assert all(merge_partition(r["id"], 4) == partition for r in batch["records"])


def test_a_withdrawal_needs_no_scope_and_wins_over_a_share_of_the_same_record():
    withdrawn = replace(item("gone.example", TLP.RED), withdraw=True)
    parsed = Parsed("stix", items=[item("gone.example"), withdrawn, replace(item("kept.example"))])
    out = normalize(submission(), parsed, "m-1")  # no TLP anywhere: both shares are rejected ...
    assert [r["code"] for r in out.rejections] == [Reason.NO_TLP, Reason.NO_TLP]
    # ... while the withdrawal (RED, no recipients, no TLP given) goes through: taking back never widens scope
    assert [(r["id"], r["withdrawn"]) for r in out.records] == [("indicator--gone.example", True)]
    shared = normalize(submission(tlp="green"), parsed, "m-1")
    assert [(r["id"], r.get("withdrawn", False)) for r in shared.records] == [
        ("indicator--kept.example", False), ("indicator--gone.example", True)]
