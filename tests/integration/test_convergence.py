"""Property: any order of any history, with duplicates, ends in the state of the in-order history."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from builders import signed
from clerk_sync.events import parse_event
from clerk_sync.records import Table, plan
from histories import ACTIONS, Clerk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_runs = itertools.count()
_deserialize = TypeDeserializer().deserialize


def expected_state(events: list[dict[str, Any]], svix_ids: list[str]) -> dict[tuple[str, str], Any]:
    """The in-order state: each record as its latest event in Clerk's time wrote it."""
    state: dict[tuple[str, str], Any] = {}
    for svix_id, event in zip(svix_ids, events, strict=True):
        planned = plan(parse_event(json.dumps(event).encode(), svix_id, 0))
        assert planned.write is not None
        state[(planned.write.table, _key(planned.write.key))] = planned.write.item
    return state


def _key(key: dict[str, str]) -> str:
    return "/".join(key[name] for name in sorted(key))


def normalise(state: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Children of deleted users/organizations are gone (the clean-up removes them); svix ids dropped."""
    deleted = {(table, key) for (table, key), item in state.items() if item.get("deleted")}
    out = {}
    for (table, key), item in state.items():
        if table == Table.MEMBERSHIPS and (
            (Table.USERS, item["user_id"]) in deleted
            or (Table.ORGANIZATIONS, item["organization_id"]) in deleted
        ):
            continue
        if table == Table.SESSIONS and (Table.USERS, item["user_id"]) in deleted:
            continue
        out[(table, key)] = {k: v for k, v in item.items() if k != "svix_id"}
    return out


def stored_state(stack, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """What the tables hold for the given records."""
    logical = {
        Table.USERS: "UsersTable",
        Table.ORGANIZATIONS: "OrganizationsTable",
        Table.MEMBERSHIPS: "MembershipsTable",
        Table.SESSIONS: "SessionsTable",
    }
    out = {}
    for table, key in keys:
        parts = key.split("/")
        item_key = (
            {"organization_id": {"S": parts[0]}, "user_id": {"S": parts[1]}}
            if table == Table.MEMBERSHIPS
            else {"id": {"S": parts[0]}}
        )
        got = stack.dynamodb.get_item(
            TableName=stack.tables[logical[table]], Key=item_key, ConsistentRead=True
        )
        if "Item" in got:
            out[(table, key)] = {k: _plain(_deserialize(v)) for k, v in got["Item"].items()}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


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
    expected = normalise(expected_state(events, svix_ids))
    actual = normalise(stored_state(stack, set(expected_state(events, svix_ids))))
    assert actual == expected
