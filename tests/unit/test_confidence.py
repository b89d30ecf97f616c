"""Hand-computed cases of the confidence function (docs/confidence.md), and its properties."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.confidence import DAY_MS, Signal, confidence, log_odds, logit, reliability

T = 1_000 * DAY_MS
NEW = 0.5  # Beta(1, 1)


def sig(member, kind="report", rel=NEW, age_days=0.0, count=1):
    return Signal(member, kind, rel, T - int(age_days * DAY_MS), count)


def test_one_report_by_a_newcomer():
    # logit(0.3) + 1.2 * (2 * 0.5) = -0.8473 + 1.2 = 0.3527 -> 58.7 %
    assert log_odds([sig("a")], False, "domain-name", T) == pytest.approx(0.3527, abs=1e-4)
    assert confidence([sig("a")], False, "domain-name", T) == 59


def test_two_independent_reports():
    # -0.8473 + 1.2 + 1.2 = 1.5527 -> 82.5 %
    assert confidence([sig("a"), sig("b")], False, "domain-name", T) == 83


def test_a_report_not_marked_for_detection_starts_below_the_threshold():
    # logit(0.3) + 0.6 * (2 * 0.5) = -0.8473 + 0.6 = -0.2473 -> 43.8 %
    assert log_odds([sig("a", "context-report")], False, "domain-name", T) == pytest.approx(-0.2473, abs=1e-4)
    assert confidence([sig("a", "context-report")], False, "domain-name", T) == 44
    # two of them: -0.8473 + 1.2 = 0.3527 -> 59, still unconfirmed; with a sighting: -0.8473 + 0.6 + 1.6 -> 79
    assert confidence([sig("a", "context-report"), sig("b", "context-report")], False, "domain-name", T) == 59
    assert confidence([sig("a", "context-report"), sig("b", "sighting")], False, "domain-name", T) == 79
    # the same member reporting it for detection too: its strongest signal counts
    assert confidence([sig("a", "context-report"), sig("a")], False, "domain-name", T) == 59


def test_repetition_by_one_member_is_not_corroboration():
    assert confidence([sig("a"), sig("a"), sig("a", "confirm")], False, "domain-name", T) == \
        confidence([sig("a", "confirm")], False, "domain-name", T)


def test_sightings_with_counts():
    # one sighting, 10 times: 1.6 * (1 + 0.25 * ln 10) = 2.5210; -0.8473 + 2.5210 = 1.6737 -> 84.2 %
    assert confidence([sig("s", "sighting", count=10)], False, "ipv4-addr", T) == 84


def test_false_positive_from_a_reliable_member():
    # report (newcomer) + FP by a member with Beta(9, 1): rel 0.9, weight 1.8
    # -0.8473 + 1.2 - 3.0 * 1.8 = -5.0473 -> 0.6 %
    assert confidence([sig("a"), sig("f", "false-positive", rel=0.9)], False, "url", T) == 1


def test_warning_list_weighs_heavily():
    # -0.8473 + 2.4 - 5.0 = -3.4473 -> 3.1 %
    assert confidence([sig("a"), sig("b")], True, "domain-name", T) == 3


def test_decay_by_kind():
    # an IPv4 report 30 days old (one half-life): -0.8473 + 0.6 = -0.2473 -> 43.8 %
    assert confidence([sig("a", age_days=30)], False, "ipv4-addr", T) == 44
    # the same age barely matters for a hash (half-life 365 days): 2^(-30/365) = 0.9446
    assert confidence([sig("a", age_days=30)], False, "file-sha256", T) == \
        round(100 / (1 + math.exp(-(logit(0.3) + 1.2 * 0.5 ** (30 / 365)))))


def test_reliability_is_the_beta_mean():
    assert reliability(1, 1) == 0.5
    assert reliability(9, 1) == 0.9


members = st.sampled_from([f"m{i}" for i in range(8)])
kinds = st.sampled_from(["report", "sighting", "confirm", "false-positive"])
signals = st.lists(st.builds(sig, members, kinds, st.floats(0.05, 0.95), st.floats(0, 400), st.integers(1, 50)),
                   max_size=12)


@given(signals, st.floats(0.05, 0.95), st.booleans())
def test_more_independent_confirmations_never_lower_confidence(evidence, rel, warned):
    newcomer = sig("independent-new-member", "confirm", rel=rel)
    assert log_odds(evidence + [newcomer], warned, "url", T) >= log_odds(evidence, warned, "url", T)


@given(signals, st.floats(0.6, 0.99), st.booleans())
def test_a_false_positive_from_a_reliable_member_always_lowers_it(evidence, rel, warned):
    fp = sig("reliable-member-not-yet-heard", "false-positive", rel=rel)
    assert log_odds(evidence + [fp], warned, "domain-name", T) < log_odds(evidence, warned, "domain-name", T)


@given(signals)
def test_confidence_is_a_percentage(evidence):
    assert 0 <= confidence(evidence, False, None, T) <= 100
