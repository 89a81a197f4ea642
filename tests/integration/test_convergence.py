"""Property: any order of any history, with duplicates, ends in the state of the in-order history."""

from __future__ import annotations

import itertools

from builders import signed
from histories import ACTIONS, Clerk, expected_state, normalise, parents_of, stored_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_runs = itertools.count()


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], list[int]]:
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=30
        )
    )
    return steps, draw(st.lists(st.integers(0, 10_000), max_size=8))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=deliveries(), data=st.data())
def test_any_order_with_duplicates_converges_to_the_in_order_state(stack, history, data):
    steps, duplicate_picks = history
    clerk = Clerk(ns=f"r{next(_runs)}x")
    for action, i, j in steps:
        clerk.act(action, i, j)
    events = clerk.events
    if not events:
        return
    svix_ids = [f"msg_{clerk.ns}{n}" for n in range(len(events))]
    order = list(range(len(events))) + [pick % len(events) for pick in duplicate_picks]
    order = data.draw(st.permutations(order), label="delivery order")
    for index in order:
        status, body = stack.deliver(signed(events[index], svix_id=svix_ids[index]))
        assert status == 200, body
    parents = parents_of(events)
    expected = normalise(expected_state(events, svix_ids), parents)
    actual = normalise(stored_state(stack, set(expected_state(events, svix_ids))), parents)
    assert actual == expected
