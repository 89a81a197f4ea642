"""Every attribute the declaration (domain/tables.py) says a table stores is what its event-type
function (domain/entities/) writes: a field declared but not written, or written but not declared,
fails here, not in production."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clerk_sync.adapters.clerk.listings import LISTINGS
from clerk_sync.domain.entities.plans import plan_write
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import BOOKKEEPING, CLERK, TABLES, Field, FieldType, Table
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types

NOT_COPIED = {
    f.name for f in BOOKKEEPING
}  # versions and tombstone marks: set by the event-type function itself


def value_of(field: Field) -> Any:
    """A value of the field's type, as Clerk would send it."""
    simple = {
        FieldType.TEXT: "x",
        FieldType.NUMBER: 7,
        FieldType.FLAG: True,
        FieldType.MAP: {"k": "v"},
        FieldType.TEXTS: ["a"],
    }
    if field.type in simple:
        return simple[field.type]
    record = {inner.name: value_of(inner) for inner in field.fields}
    return record if field.type is FieldType.RECORD else [record]


def copied(table: Table) -> list[Field]:
    """The fields read from `data.<their name>` (the others the event-type function computes from
    elsewhere)."""
    spec = TABLES[table]
    return [f for f in spec.fields if f.source is None and f.name not in (*spec.key_names, *NOT_COPIED)]


def live_samples() -> list[str]:
    return [t for t in sample_types() if not t.endswith(".deleted") and not t.startswith(("email.", "sms."))]


@pytest.mark.parametrize("event_type", live_samples())
def test_a_webhook_writes_every_declared_attribute_clerk_sends_and_nothing_undeclared(event_type):
    envelope = json.loads((SAMPLES_DIR / f"{event_type}.json").read_bytes())
    write = changes_of(parse_event(json.dumps(envelope).encode(), "msg_declared", 0)).write
    assert write is not None and not write.tombstone
    spec = TABLES[write.table]
    declared = {*spec.key_names, *(f.name for f in (*BOOKKEEPING, *spec.fields))}
    assert set(write.item) <= declared
    for field in copied(write.table):
        if envelope["data"].get(field.name) is None:  # absent, or sent as null
            envelope["data"][field.name] = value_of(field)
    full = changes_of(parse_event(json.dumps(envelope).encode(), "msg_declared", 0)).write
    assert full is not None
    missing = [f.name for f in copied(write.table) if f.name not in full.item]
    assert not missing, f"{event_type}: declared, sent, not written: {missing}"


def test_a_backfilled_plan_writes_every_declared_attribute():
    fields = TABLES[Table.PLANS].fields
    write = plan_write({"id": "cplan_1", **{f.name: value_of(f) for f in fields}}, "backfill:1", 5)
    assert set(write.item) == {"id", "version", "svix_id", CLERK, *(f.name for f in fields)}


def test_backfill_listings_compare_and_look_up_declared_attributes():
    for table, listing in LISTINGS.items():
        spec = TABLES[table]
        declared = {*spec.key_names, *(f.name for f in (*BOOKKEEPING, *spec.fields))}
        assert set(listing.content) <= declared, table
        assert set(listing.lookup_fields) <= declared, table
