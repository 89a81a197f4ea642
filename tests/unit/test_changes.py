"""The change feed's events from stream images (domain/changes.py): which writes are changes, of what
kind, with which id, and what the detail carries."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
from clerk_sync.domain.changes import (
    MAX_ENTRY_BYTES,
    ChangeDetail,
    ChangeKind,
    State,
    UnreadableImageError,
    change_of,
    detail,
    encode,
    entry_size,
    record_of,
)
from clerk_sync.domain.complete import compress
from clerk_sync.domain.tables import TABLES, Table
from hypothesis import given, settings
from hypothesis import strategies as st

U = Table.USERS
M = Table.MEMBERSHIPS


def live(version: int, svix_id: str = "msg_1", **fields: Any) -> dict[str, Any]:
    return {"id": "user_1", "version": Decimal(version), "svix_id": svix_id, "first_name": "Ann", **fields}


def tombstone(version: int, svix_id: str = "msg_9") -> dict[str, Any]:
    return {
        "id": "user_1",
        "version": Decimal(version),
        "svix_id": svix_id,
        "deleted": True,
        "deleted_at": version,
    }


def test_a_first_live_write_is_created_with_no_old_record():
    change = change_of(U, None, live(5))
    assert change is not None
    assert (change.kind, change.version, change.previous_version, change.old) == (
        ChangeKind.CREATED,
        5,
        None,
        None,
    )
    assert change.detail_type == "user.created" and change.key == {"id": "user_1"}
    assert change.new == {"id": "user_1", "version": 5, "first_name": "Ann"}  # bookkeeping out, int
    assert change.written_by == "msg_1"
    assert change.changed == ("first_name", "id")  # everything the record holds, version aside


def test_a_newer_live_version_is_updated_listing_what_differs():
    change = change_of(U, live(5), live(7, "msg_2", first_name="Anna", last_name="Lee"))
    assert change is not None
    assert (change.kind, change.version, change.previous_version) == (ChangeKind.UPDATED, 7, 5)
    assert change.old is not None and change.old["first_name"] == "Ann"
    assert change.changed == ("first_name", "last_name") and change.written_by == "msg_2"


def test_a_tombstone_is_deleted_with_the_live_record_before_it():
    change = change_of(U, live(5), tombstone(9))
    assert change is not None
    assert (change.kind, change.state, change.new, change.previous_version) == (
        ChangeKind.DELETED,
        State.TOMBSTONE,
        None,
        5,
    )
    assert change.old is not None and change.old["first_name"] == "Ann"
    assert change.written_by == "msg_9"


def test_a_deletion_that_arrives_first_is_deleted_without_records():
    change = change_of(U, None, tombstone(9))
    assert change is not None and (change.kind, change.old, change.new) == (ChangeKind.DELETED, None, None)


def test_a_record_live_again_after_its_tombstone_is_created():
    """A membership revived by a re-join."""
    old = {"organization_id": "org_1", "user_id": "user_1", "version": 5, "svix_id": "a", "deleted": True}
    new = {"organization_id": "org_1", "user_id": "user_1", "version": 8, "svix_id": "b", "role": "admin"}
    change = change_of(M, old, new)
    assert change is not None and change.kind is ChangeKind.CREATED and change.old is None
    assert change.detail_type == "organizationMembership.created"
    assert change.key == {"organization_id": "org_1", "user_id": "user_1"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (live(5), live(5)),  # a retried write
        (live(5), live(5, clerk=compress({"id": "user_1"}))),  # backfill filling in the complete object
        (tombstone(9), tombstone(9)),
        (tombstone(9), None),  # a tombstone removed by hand
    ],
    ids=["retry", "filled-in", "same-tombstone", "tombstone-removed"],
)
def test_writes_that_change_no_state_are_not_changes(old, new):
    assert change_of(U, old, new) is None


def test_a_clean_up_tombstone_at_the_live_version_is_a_change_of_its_own():
    """A clean-up keeps the child's version when it is newer than the parent's deletion
    (rules.cascade_version): same version, another state, another id."""
    created = change_of(U, None, live(9))
    deleted = change_of(U, live(9), tombstone(9))
    assert created is not None and deleted is not None
    assert deleted.kind is ChangeKind.DELETED and deleted.id != created.id


def test_an_item_removed_by_hand_is_deleted():
    change = change_of(U, live(5), None)
    assert change is not None
    assert (change.kind, change.state, change.version, change.written_by) == (
        ChangeKind.DELETED,
        State.REMOVED,
        5,
        None,
    )


def test_the_id_is_stable_per_table_key_version_and_state():
    first = change_of(U, live(5), live(7, "msg_2"))
    again = change_of(U, live(6), live(7, "msg_3"))  # the same state reached another way
    assert first is not None and again is not None and first.id == again.id
    others = [
        change_of(U, live(5), live(8)),
        change_of(U, live(5), {**live(7), "id": "user_2"}),
        change_of(Table.ROLES, {**live(5)}, {**live(7)}),
        change_of(U, live(5), tombstone(7)),
    ]
    assert len({first.id, *(c.id for c in others if c is not None)}) == 5


def test_images_without_a_version_or_key_are_refused():
    with pytest.raises(UnreadableImageError):
        change_of(U, None, {"id": "user_1", "svix_id": "x"})
    with pytest.raises(UnreadableImageError):
        change_of(U, None, {"version": 5, "svix_id": "x"})


def test_the_record_is_the_read_librarys_with_the_complete_object_decoded():
    item = {
        **live(5),
        "public_metadata": {"plan": "pro", "seats": Decimal(3), "ratio": Decimal("0.5")},
        "clerk": compress({"id": "user_1", "future_field": {"x": 1}}),
        "deleted_at": None,
    }
    record = record_of(item)
    assert record["public_metadata"] == {"plan": "pro", "seats": 3, "ratio": 0.5}
    assert record["clerk"] == {"id": "user_1", "future_field": {"x": 1}}
    assert not {"svix_id", "deleted", "deleted_at"} & set(record)
    json.dumps(record)  # JSON all the way down


def test_the_detail_carries_what_the_issue_names():
    change = change_of(U, live(5), live(7, "msg_2", first_name="Anna"))
    assert change is not None
    body = detail(change, ChangeDetail.FULL)
    assert set(body) == {
        *("id", "entity", "change", "table", "key", "version", "previous_version"),
        *("written_by", "new", "old", "changed", "omitted"),
    }
    assert (body["entity"], body["change"], body["table"]) == ("user", "updated", "users")
    assert body["new"]["first_name"] == "Anna" and body["old"]["first_name"] == "Ann"
    assert body["omitted"] == []


def test_keys_only_leaves_the_records_out_and_keeps_what_changed():
    change = change_of(U, live(5), live(7, "msg_2", first_name="Anna"))
    assert change is not None
    body = detail(change, ChangeDetail.KEYS)
    assert body["new"] is None and body["old"] is None and body["omitted"] == ["new", "old"]
    assert body["changed"] == ["first_name"] and body["key"] == {"id": "user_1"}
    assert "Ann" not in encode(body)


def test_an_entry_too_large_loses_the_complete_objects_first_then_the_records():
    big = {"id": "user_1", "notes": "x" * 150_000}
    old, new = live(5, clerk=compress(big)), live(7, clerk=compress({**big, "notes": "y" * 150_000}))
    change = change_of(U, old, new)
    assert change is not None
    body = detail(change, ChangeDetail.FULL)
    assert body["omitted"] == ["old.clerk"] and "clerk" in body["new"]
    assert entry_size(change.detail_type, body) <= MAX_ENTRY_BYTES
    tight = detail(change, ChangeDetail.FULL, limit=1_000)
    assert tight["omitted"] == ["old.clerk", "new.clerk"] and tight["new"]["first_name"] == "Ann"
    tiny = detail(change, ChangeDetail.FULL, limit=300)
    assert tiny["new"] is None and tiny["old"] is None
    assert tiny["omitted"] == ["old.clerk", "new.clerk", "old", "new"]


def test_every_table_has_an_entity_named_as_clerks_events_are():
    from clerk_sync.domain.event_types import EVENT_TYPES

    prefixes = {event_type.split(".")[0] for event_type in EVENT_TYPES}
    for spec in TABLES.values():
        assert spec.from_webhooks is (spec.entity in prefixes), spec.table
    assert len({spec.entity for spec in TABLES.values()}) == len(TABLES)


# --- a property: what a table held, published --------------------------------------------------

Step = tuple[str, int]  # ("live" | "tombstone" | "again", version step)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["live", "tombstone", "again"]), st.integers(0, 3)), max_size=30))
def test_stream_states_become_one_event_each_chained_by_version(steps: list[Step]):
    """Whatever a key's stream holds (new states, rewrites of the same one, each record possibly seen
    twice by a retried batch), the events, de-duplicated by id, are one per state the table held, each
    naming the version before it, and the last one is the final state."""
    images: list[dict[str, Any] | None] = [None]
    version = 100
    for kind, step in steps:
        current = images[-1]
        if kind == "again" and current is not None:
            images.append(dict(current))
            continue
        version += step
        if kind == "tombstone":
            images.append(tombstone(version))
        else:
            images.append(live(version, first_name=f"v{version}"))
    stream = list(itertools.pairwise(images))
    published = [change_of(U, old, new) for old, new in stream + stream[: len(stream) // 2]]
    events = {c.id: c for c in published if c is not None}
    held = {
        (int(new["version"]), State.TOMBSTONE if new.get("deleted") else State.LIVE)
        for old, new in stream
        if new is not None
        and (
            old is None
            or (int(old["version"]), bool(old.get("deleted")))
            != (int(new["version"]), bool(new.get("deleted")))
        )
    }
    assert {(c.version, c.state) for c in events.values()} == held
    ordered = [c for c in published[: len(stream)] if c is not None]
    for before, after in itertools.pairwise(ordered):
        assert after.previous_version == before.version
    if ordered:
        final = images[-1]
        assert final is not None
        assert ordered[-1].version == int(final["version"])
        assert (ordered[-1].kind is ChangeKind.DELETED) == bool(final.get("deleted"))
