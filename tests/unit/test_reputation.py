"""Member weights, novelty credit, daily caps, vouching and independence groups (hand-computed)."""
import random

import pytest

from streams.core.reputation import NEWCOMERS, Book, novelty_credit, outcome, vouch, weight
from streams.tlp import TLP

DAY = 86_400_000
T0 = 1_000 * DAY


PARTNERS = ("p1", "p2", "p3", "p4", "p5")  # five distinct co-backers: earned credit counts up to 15


def confirmed(book, member, n, level=TLP.GREEN, at=T0, together=PARTNERS, credit=1.0, tag="r"):
    for i in range(n):
        book.apply(outcome(member, level, True, f"{tag}|{member}|{i}|{at}", at, credit, together))


def test_newcomers_start_low_and_earn_weight_through_confirmed_history():
    assert weight(0, 0) == pytest.approx(0.2)  # (0.2 * 4 + 0) / 4
    assert weight(5, 0) == pytest.approx(5.8 / 9)  # vouched: 0.6444
    assert weight(20, 0) == pytest.approx(20.8 / 24)  # 0.8667
    assert weight(0, 1) == pytest.approx(0.8 / 5)  # refuted once: 0.16
    assert weight(10, 10) == pytest.approx(10.8 / 24)  # 0.45: half refuted is worse than unknown-but-vouched


def test_novelty_credit():
    assert [novelty_credit(n) for n in range(4)] == pytest.approx([1, 0.25, 1 / 9, 1 / 16])


def test_credit_is_capped_per_day_and_events_count_once():
    book = Book()
    confirmed(book, "m", 15)  # 15 on one day: at most 10 count
    assert book.credit("m", TLP.GREEN) == 10
    confirmed(book, "m", 15)  # the same causes again (a replay): nothing changes
    assert book.credit("m", TLP.GREEN) == 10
    confirmed(book, "m", 3, at=T0 + DAY)
    assert book.credit("m", TLP.GREEN) == 13
    assert book.weight("m", TLP.GREEN) == pytest.approx(13.8 / 17)


def test_credit_earned_with_one_partner_counts_little():
    book = Book()
    for day in range(4):  # a copycat: 20 confirmations, always beside the same member
        confirmed(book, "copycat", 5, at=T0 + day * DAY, together=["victim"])
    assert book.credit("copycat", TLP.GREEN) == 3  # min(20, 3 * 1 partner)
    assert book.weight("copycat", TLP.GREEN) == pytest.approx(3.8 / 7)  # 0.54


def test_vouching_counts_once_and_only_upwards_in_tlp():
    book = Book()
    book.apply(vouch("founder", TLP.GREEN, T0))
    book.apply(vouch("founder", TLP.GREEN, T0 + 5))
    assert book.credit("founder", TLP.GREEN) == 5 and book.credit("founder", TLP.AMBER) == 5
    assert book.credit("founder", TLP.CLEAR) == 0  # rule 2: a GREEN word does not move CLEAR views


def test_amber_outcomes_never_move_green_weights():
    book = Book()
    confirmed(book, "m", 4, level=TLP.AMBER)
    book.apply(outcome("m", TLP.AMBER, False, "refuted", T0))
    assert book.weight("m", TLP.GREEN) == pytest.approx(0.2)
    assert book.weight("m", TLP.AMBER) == pytest.approx(4.8 / 9)


def test_newcomers_are_one_group_and_independent_members_their_own():
    book = Book()
    confirmed(book, "a", 4, together=["c"])
    confirmed(book, "b", 4, together=["d"], tag="b")
    assert book.groups(["a", "b", "x", "y"], TLP.GREEN) == {"a": "a", "b": "b", "x": NEWCOMERS, "y": NEWCOMERS}


def test_two_records_confirmed_together_are_no_pattern_yet():
    book = Book()
    confirmed(book, "a", 2, together=["b"])  # all of a's and b's confirmations, but only two of them
    confirmed(book, "b", 2, together=["a"], tag="b")
    assert book.groups(["a", "b"], TLP.GREEN) == {"a": "a", "b": "b"}
    confirmed(book, "a", 1, together=["b"], tag="third")  # the third: now they are one
    assert book.groups(["a", "b"], TLP.GREEN) == {"a": "a", "b": "a"}


def test_members_that_mostly_confirmed_together_are_one_group():
    book = Book()
    confirmed(book, "a", 4, together=["b"])  # a: 4 confirmations, all with b
    confirmed(book, "b", 2, together=["a"], tag="b")  # b: 2 with a, 1 with c (3 in all)
    confirmed(book, "b", 1, together=["c"], tag="b2")
    confirmed(book, "c", 8, tag="c")
    # a-b: 4 together >= 0.5 * min(4, 3); b-c: 1 together < 0.5 * min(3, 8)
    assert book.groups(["a", "b", "c"], TLP.GREEN) == {"a": "a", "b": "a", "c": "c"}
    assert book.groups(["a", "b"], TLP.AMBER) == {"a": "a", "b": "a"}  # GREEN history counts upwards
    assert book.groups(["a", "b"], TLP.CLEAR) == {"a": NEWCOMERS, "b": NEWCOMERS}


def test_folding_is_order_independent():
    events = [outcome(m, TLP.GREEN, ok, f"{m}|{i}", T0 + (i % 3) * DAY, 0.25 if i % 2 else 1.0, ["p", "q"][: i % 3])
              for i, (m, ok) in enumerate([("p", True), ("q", True), ("p", False), ("q", True), ("r", True)] * 7)]
    events.append(vouch("r", TLP.CLEAR, T0))
    books = []
    for seed in (1, 2):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        book = Book()
        for event in shuffled + shuffled[:5]:
            book.apply(event)
        books.append(book)
    for member in "pqr":
        assert books[0].weight(member, TLP.GREEN) == books[1].weight(member, TLP.GREEN)
    assert books[0].groups("pqr", TLP.GREEN) == books[1].groups("pqr", TLP.GREEN)
