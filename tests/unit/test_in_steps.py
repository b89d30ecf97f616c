"""A batch of Faust events is processed in steps bounded by bytes (streams.agents.base.in_steps)."""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from streams.agents.base import in_steps


@given(sizes=st.lists(st.integers(min_value=0, max_value=5000), max_size=80),
       limit=st.integers(min_value=1, max_value=20_000))
def test_steps_keep_order_and_stay_under_the_limit_unless_one_message_is_larger(sizes: list[int],
                                                                               limit: int) -> None:
    events = [SimpleNamespace(value=b"x" * size, n=n) for n, size in enumerate(sizes)]
    steps = list(in_steps(events, limit))
    assert [event.n for step in steps for event in step] == list(range(len(sizes)))
    for step in steps:
        assert step and (len(step) == 1 or sum(len(event.value) for event in step) <= limit)
    for before, after in zip(steps, steps[1:]):  # a step ends only when the next message would not fit
        assert sum(len(event.value) for event in before) + len(after[0].value) > limit


def test_small_messages_share_a_step_and_a_large_one_stands_alone() -> None:
    events = [SimpleNamespace(value=b"x" * size) for size in (100, 100, 100, 900, 50, 0)]
    events[-1].value = None  # a tombstone counts as nothing
    assert [len(step) for step in in_steps(events, 512)] == [3, 1, 2]
