"""Hand-computed cases of the confidence function (docs/confidence.md), and its properties."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.confidence import DAY_MS, Signal, backing_groups, confidence, disputed, log_odds, logit, terms

T = 1_000 * DAY_MS
NEW = 0.2  # a newcomer's weight
PROVEN = 0.9


def sig(member, kind="report", w=NEW, age_days=0.0, count=1, group="", scale=1.0):
    return Signal(member, kind, w, T - int(age_days * DAY_MS), count, group, scale)


def test_one_report_by_a_newcomer():
    # logit(0.3) + 1.5 * 0.2 = -0.8473 + 0.3 = -0.5473 -> 36.6 %
    assert log_odds([sig("a")], False, "domain-name", T) == pytest.approx(-0.5473, abs=1e-4)
    assert confidence([sig("a")], False, "domain-name", T) == 37


def test_newcomers_are_one_group():
    # two newcomers in the newcomers group count once: still -0.5473 -> 37 %
    pair = [sig("a", group="newcomers"), sig("b", "confirm", group="newcomers")]
    assert confidence(pair, False, "domain-name", T) == 37 and backing_groups(pair) == 1


def test_one_proven_member_is_one_backing_group_whatever_its_score():
    # -0.8473 + 1.5 * 0.9 = 0.5027 -> 62.3 %, but one group: the quorum of two keeps it unconfirmed
    alone = [sig("a", w=PROVEN), sig("a", "confirm", w=PROVEN), sig("a", "sighting", PROVEN, count=99)]
    assert confidence(alone[:1], False, "domain-name", T) == 62 and backing_groups(alone) == 1


def test_two_independent_proven_members():
    # -0.8473 + 2 * 1.35 = 1.8527 -> 86.4 %
    pair = [sig("a", w=PROVEN), sig("b", "confirm", w=PROVEN)]
    assert confidence(pair, False, "domain-name", T) == 86 and backing_groups(pair) == 2


def test_members_that_only_corroborate_each_other_count_as_one():
    pair = [sig("a", w=PROVEN, group="a"), sig("b", "confirm", w=PROVEN, group="a")]
    assert confidence(pair, False, "domain-name", T) == 62 and backing_groups(pair) == 1


def test_a_report_not_marked_for_detection_weighs_less():
    # -0.8473 + 1.35 + 0.5 * 1.35 = 1.1777 -> 76.5 %
    assert confidence([sig("a", w=PROVEN), sig("b", w=PROVEN, scale=0.5)], False, "url", T) == 76


def test_sightings_are_one_relevance_term():
    # newcomer report + sightings by three proven members: only the strongest counts,
    # 0.25 * 0.9 * (1 + 0.1 ln 100) = 0.3286; -0.8473 + 0.3 + 0.3286 = -0.2187 -> 44.6 %
    seen = [sig("a"), sig("s1", "sighting", PROVEN), sig("s2", "sighting", PROVEN, count=10),
            sig("s3", "sighting", PROVEN, count=100)]
    assert confidence(seen, False, "ipv4-addr", T) == 45
    assert [t.rule for t in terms(seen, False, "ipv4-addr", T)] == ["prior", "backing", "relevance"]
    assert backing_groups(seen) == 1


def test_a_value_many_members_only_sight_leans_benign():
    # eight sighters (newcomers): relevance 0.25 * 0.2 = 0.05, prevalence -2.0 * 1/8
    eight = [sig(f"s{i}", "sighting") for i in range(8)]
    # -0.8473 + 0.05 - 0.25 = -1.0473 -> 26.0 %
    assert confidence(eight, False, "ipv4-addr", T) == 26
    # fifteen: the full -2.0; -0.8473 + 0.05 - 2.0 = -2.7973 -> 5.7 %
    assert confidence([sig(f"s{i}", "sighting") for i in range(15)], False, "ipv4-addr", T) == 6
    # members that also reported or disputed it do not count as prevalence
    assert not [t for t in terms(eight + [sig("s0")], False, None, T) if t.rule == "prevalence"]


def test_false_positive_from_a_reliable_member_disputes():
    # two proven reports, FP by a member of weight 0.9: 1.8527 - 3.0 * 0.9² = -0.5773 -> 36.0 %
    evidence = [sig("a", w=PROVEN), sig("b", w=PROVEN), sig("f", "false-positive", PROVEN)]
    assert confidence(evidence, False, "url", T) == 36 and disputed(evidence)


def test_false_positive_from_a_newcomer_does_not_dispute():
    # 1.8527 - 3.0 * 0.2² = 1.7327 -> 85.0 %: a dispute needs standing
    evidence = [sig("a", w=PROVEN), sig("b", w=PROVEN), sig("f", "false-positive", NEW)]
    assert confidence(evidence, False, "url", T) == 85 and not disputed(evidence)


def test_a_backing_group_cannot_dispute_its_own_value():
    evidence = [sig("a", w=PROVEN, group="a"), sig("b", "false-positive", PROVEN, group="a")]
    assert not disputed(evidence)


def test_warning_list_weighs_heavily():
    # 1.8527 - 5.0 = -3.1473 -> 4.1 %
    assert confidence([sig("a", w=PROVEN), sig("b", w=PROVEN)], True, "domain-name", T) == 4


def test_decay_by_kind():
    # two proven IPv4 reports 30 days old (one half-life): -0.8473 + 1.35 = 0.5027 -> 62.3 %
    old = [sig("a", w=PROVEN, age_days=30), sig("b", w=PROVEN, age_days=30)]
    assert confidence(old, False, "ipv4-addr", T) == 62
    # the same age barely matters for a hash (half-life 365 days): 2^(-30/365) = 0.9446
    assert confidence(old, False, "file-sha256", T) == \
        round(100 / (1 + math.exp(-(logit(0.3) + 2 * 1.35 * 0.5 ** (30 / 365)))))


members = st.sampled_from([f"m{i}" for i in range(8)])
kinds = st.sampled_from(["report", "sighting", "confirm", "false-positive"])
signals = st.lists(st.builds(sig, members, kinds, st.floats(0.05, 0.99), st.floats(0, 400), st.integers(1, 50),
                             st.sampled_from(["", "newcomers", "g"])), max_size=12)


@given(signals, st.floats(0.05, 0.99), st.booleans())
def test_an_independent_confirmation_never_lowers_confidence(evidence, w, warned):
    newcomer = sig("independent-new-member", "confirm", w=w)
    assert log_odds(evidence + [newcomer], warned, "url", T) >= log_odds(evidence, warned, "url", T)


@given(signals, st.floats(0.6, 0.99), st.booleans())
def test_a_false_positive_from_a_reliable_member_always_lowers_it(evidence, w, warned):
    fp = sig("reliable-member-not-yet-heard", "false-positive", w=w)
    assert log_odds(evidence + [fp], warned, "domain-name", T) < log_odds(evidence, warned, "domain-name", T)
    assert disputed(evidence + [fp])


@given(st.lists(st.builds(sig, st.just("m"), kinds, st.floats(0.05, 1.0), st.floats(0, 400), st.integers(1, 10**6)),
                max_size=20))
def test_one_member_alone_never_makes_a_quorum(evidence):
    assert backing_groups(evidence) <= 1


@given(signals)
def test_confidence_is_a_percentage(evidence):
    assert 0 <= confidence(evidence, False, None, T) <= 100
