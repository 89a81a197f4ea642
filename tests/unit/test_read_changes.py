"""`clerk_sync.read.parse` reads back what the change feed publishes: for every entity's created, updated
and deleted events (built by domain/changes.py from every bundled sample's and Clerk spec example's
write, and a backfilled plan), with full records or keys only, `new` and `old` are the records the
read library makes of the stored items, field by field; the event wrapped in an SQS record or as its
JSON text reads the same; fields Clerk adds later are read through `new.clerk`; attributes and detail
fields this version does not know are ignored; anything else is refused with NotAChangeError, whose
message never holds a value it was given."""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from change_events import (
    MALFORMED,
    SECRET,
    Produced,
    as_image,
    as_read,
    entities_covered,
    event,
    every_change,
    sample_writes,
    sqs_record,
)
from clerk_sync.domain import changes as domain
from clerk_sync.domain.changes import ChangeDetail, change_of
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.read import Change, Membership, NotAChangeError, Record, User, parse
from clerk_sync.read.changes import CHANGE_TYPES, OMITTABLE, RECORDS, SOURCE

CHANGES = every_change()


def record_fields_equal(parsed: Record | None, expected: Record | None, label: str) -> None:
    """The two records are the same class and hold the same values, `clerk` compared as a mapping."""
    assert (parsed is None) == (expected is None), label
    if parsed is None or expected is None:
        return
    assert type(parsed) is type(expected), label
    for field in fields(expected):
        got, want = getattr(parsed, field.name), getattr(expected, field.name)
        if field.name == CLERK:
            assert dict(got) == dict(want), (label, field.name)
        else:
            assert got == want, (label, field.name)


def expected_record(table: Table, item: dict[str, Any] | None) -> Record | None:
    """What the read library returns for the stored item (None: no live item)."""
    return None if item is None else RECORDS[table].from_item(as_read(item))


def test_the_samples_cover_every_entity_and_change():
    assert entities_covered(CHANGES) == {spec.entity for spec in TABLES.values()}
    assert {(p.change.entity, p.change.kind.value) for p in CHANGES} >= {
        (spec.entity, kind) for spec in TABLES.values() for kind in CHANGE_TYPES
    }
    assert SOURCE == domain.SOURCE and set(CHANGE_TYPES) == {k.value for k in domain.ChangeKind}


@pytest.mark.parametrize("produced", CHANGES, ids=lambda p: p.label)
def test_a_full_event_reads_as_the_records_of_the_stored_items(produced: Produced):
    change = produced.change
    parsed = parse(event(change))
    assert parsed == Change(
        id=change.id,
        entity=change.entity,
        change=change.kind.value,  # type: ignore[arg-type]
        table=change.table,
        key=change.key,
        version=change.version,
        previous_version=change.previous_version,
        written_by=change.written_by,
        new=parsed.new,
        old=parsed.old,
        changed=change.changed,
        omitted=(),
        time=datetime(2026, 12, 8, 2, 11, 16, tzinfo=UTC),
    )
    assert parsed.detail_type == change.detail_type
    record_fields_equal(parsed.new, expected_record(change.table, produced.new_item), produced.label)
    record_fields_equal(parsed.old, expected_record(change.table, produced.old_item), produced.label)
    if parsed.new is not None and produced.new_item is not None and CLERK in produced.new_item:
        assert len(parsed.new.clerk) > 0  # Clerk's complete object came along


@pytest.mark.parametrize("produced", CHANGES[::7], ids=lambda p: p.label)
def test_a_keys_event_reads_as_the_key_versions_and_changed_names_alone(produced: Produced):
    change = produced.change
    parsed = parse(event(change, ChangeDetail.KEYS))
    full = parse(event(change))
    assert parsed.new is None and parsed.old is None
    assert set(parsed.omitted) == {p for p in ("new", "old") if getattr(full, p) is not None}
    assert (parsed.id, parsed.key, parsed.version, parsed.changed) == (
        full.id,
        full.key,
        full.version,
        full.changed,
    )


@pytest.mark.parametrize("produced", CHANGES[::5], ids=lambda p: p.label)
def test_an_sqs_record_and_the_events_json_text_read_the_same(produced: Produced):
    sent = event(produced.change)
    parsed = parse(sent)
    assert parse(sqs_record(sent)) == parsed
    assert parse(json.dumps(sent)) == parsed
    assert parse(json.dumps(sent).encode()) == parsed


def test_a_complete_object_left_out_for_size_reads_empty_and_is_named():
    change = next(p for p in CHANGES if p.label == "sample:user.updated:updated").change
    whole = domain.entry_size(change.detail_type, domain.detail(change, ChangeDetail.FULL))
    parsed = parse(event(change, ChangeDetail.FULL, limit=whole - 1))
    full = parse(event(change))
    assert parsed.omitted == ("old.clerk",)
    assert isinstance(parsed.old, User) and isinstance(full.old, User) and dict(parsed.old.clerk) == {}
    assert parsed.old.email == full.old.email and parsed.new == full.new


def live_user_change() -> tuple[dict[str, Any], Produced]:
    """A user's creation event (full records), and the change it is of."""
    produced = next(p for p in CHANGES if p.label == "sample:user.updated:created")
    return event(produced.change), produced


def test_fields_clerk_adds_later_are_read_through_clerk_and_unknown_attributes_are_ignored():
    sent, _ = live_user_change()
    sent["detail"]["new"][CLERK]["favorite_color_2027"] = "teal"
    sent["detail"]["new"][CLERK]["email_addresses"][0]["linked_to_2027"] = [{"kind": "passkey"}]
    sent["detail"]["new"]["stored_from_2027"] = {"an": "attribute a newer clerk-sync stores"}
    sent["detail"]["delivered_by_2027"] = "a detail field a newer clerk-sync sends"
    sent["a_new_envelope_field"] = True
    parsed = parse(sent)
    assert isinstance(parsed.new, User)
    assert parsed.new.clerk["favorite_color_2027"] == "teal"
    assert parsed.new.clerk["email_addresses"][0]["linked_to_2027"] == ({"kind": "passkey"},)
    assert not hasattr(parsed.new, "stored_from_2027")
    with pytest.raises(TypeError):
        parsed.new.clerk["email_addresses"][0]["id"] = "changed"  # type: ignore[index]
    assert "favorite_color_2027" not in repr(parsed) and "teal" not in repr(parsed.new.clerk)


def test_a_membership_event_is_a_membership_with_its_typed_fields():
    write = sample_writes()["sample:organizationMembership.created"]
    change = change_of(write.table, None, as_image(write.item))
    assert change is not None
    parsed = parse(event(change))
    assert isinstance(parsed.new, Membership)
    assert parsed.key == {"organization_id": parsed.new.organization_id, "user_id": parsed.new.user_id}
    assert parsed.new.role == write.item["role"] and parsed.new.permissions == tuple(
        write.item["permissions"]
    )
    with pytest.raises(TypeError):
        parsed.key["user_id"] = "user_other"  # type: ignore[index]


@pytest.mark.parametrize("case", MALFORMED, ids=str)
def test_a_malformed_event_is_refused_without_its_values(case: str):
    sent, _ = live_user_change()
    sent["detail"]["new"]["email"] = SECRET  # a personal value in the record, never echoed
    make, words = MALFORMED[case]
    with pytest.raises(NotAChangeError) as refused:
        parse(make(copy.deepcopy(sent)))
    assert words in str(refused.value)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize(
    "given",
    [
        None,
        42,
        ["a list"],
        {},
        {"Records": []},
        f"not json {SECRET}",
        json.dumps([SECRET]),
        b"\xff\xfe",
        "NaN",
        {"body": 3},
        {"body": f"{{{SECRET}"},
        {"body": json.dumps({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})},
        "[" * 100_000,
    ],
    ids=repr,
)
def test_what_is_not_an_event_is_refused_without_its_values(given: Any):
    with pytest.raises(NotAChangeError) as refused:
        parse(given)
    assert SECRET not in str(refused.value)


def test_a_deletion_carries_no_new_record_and_an_update_needs_its_old_one():
    produced = next(p for p in CHANGES if p.label == "sample:user.updated:updated")
    sent = event(produced.change)
    sent["detail"]["old"] = None
    with pytest.raises(NotAChangeError, match=r"detail\.old: missing"):
        parse(sent)
    sent["detail"]["omitted"] = ["old"]
    assert parse(sent).old is None
    gone = next(p for p in CHANGES if p.label == "sample:user.updated:deleted")
    deleted = event(gone.change)
    deleted["detail"]["new"] = deleted["detail"]["old"]
    with pytest.raises(NotAChangeError, match="a deletion has no record after it"):
        parse(deleted)


def test_the_omittable_parts_are_the_ones_the_feed_leaves_out():
    assert {"new", "old", "new.clerk", "old.clerk"} == OMITTABLE
