"""The ordering rule read two ways agrees: Python (`rules.holds`, what backfill's dry run uses) and the
DynamoDB condition the store sends (`conditions.condition`), on random stored/incoming pairs, on both
engines. Parents (tombstoned or not) are part of the draw for tables that have them, and so are a
stored record's complete object, the store's switch and the write's origin (a record without one is
filled in at its own version by a backfill write that carries one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from clerk_sync.adapters.dynamodb.store import Store
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.rules import LIVE, holds, may_replace
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.domain.writes import Write, live, tombstone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_serialize = TypeSerializer().serialize
VERSIONS = st.integers(min_value=1, max_value=4)
SVIX_IDS = st.sampled_from(["msg_a", "msg_b"])


@dataclass(frozen=True)
class Stored:
    version: int
    svix_id: str
    deleted: bool
    complete: bool  # a live record keeps Clerk's complete object


@dataclass(frozen=True)
class Case:
    table: Table
    stored: Stored | None
    tombstone: bool
    version: int
    svix_id: str
    parents_deleted: tuple[bool, ...]
    complete_objects: bool  # the store's switch: a live write carries a complete object or none
    fills_in: bool  # a backfill write (Write.fills_in), else a webhook's


stored_states = st.none() | st.builds(Stored, VERSIONS, SVIX_IDS, st.booleans(), st.booleans())


@st.composite
def cases(draw: st.DrawFn) -> Case:
    table = draw(st.sampled_from(list(Table)))
    parents = tuple(draw(st.booleans()) for _ in TABLES[table].parents)
    return Case(
        table,
        draw(stored_states),
        draw(st.booleans()),
        draw(VERSIONS),
        draw(SVIX_IDS),
        parents,
        draw(st.booleans()),
        draw(st.booleans()),
    )


def _key(table: Table, ids: dict[str, str]) -> dict[str, str]:
    return {name: ids[name] for name in TABLES[table].key_names}


def _write(case: Case, ids: dict[str, str]) -> Write:
    key = _key(case.table, ids)
    event = Event(
        svix_id=case.svix_id,
        type="test",
        data={"updated_at": case.version},
        occurred_at=case.version,
    )
    if case.tombstone:
        return tombstone(event, case.table, key)
    fields = {"user_id": ids["user_id"]} if case.table is Table.SESSIONS else {}
    return live(event, case.table, key, fields)


def _item(key: dict[str, str], stored: Stored) -> dict[str, Any]:
    item: dict[str, Any] = {**key, "version": stored.version, "svix_id": stored.svix_id}
    if stored.deleted:
        item.update(deleted=True, deleted_at=stored.version)
    elif stored.complete:
        item[CLERK] = b"x\x9c"
    return item


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_python_rule_and_dynamodb_condition_agree(stack, case):
    unique = uuid.uuid4().hex[:12]
    ids = {"id": f"id_{unique}", "organization_id": f"org_{unique}", "user_id": f"user_{unique}"}
    store = Store(stack.models, stack.dynamodb, case.complete_objects)
    names = {spec.table: stack.tables[spec.template_id] for spec in TABLES.values()}

    def put(table: Table, item: dict[str, Any]) -> None:
        stack.dynamodb.put_item(TableName=names[table], Item={k: _serialize(v) for k, v in item.items()})

    write = store.as_stored(replace(_write(case, ids), fills_in=case.fills_in))
    stored_item = None if case.stored is None else _item(write.key, case.stored)
    if stored_item is not None:
        put(case.table, stored_item)
    parent_items = []
    for link, deleted in zip(TABLES[case.table].parents, case.parents_deleted, strict=True):
        parent = {"id": ids[link.field], "version": 1, "svix_id": "msg_parent"}
        if deleted:
            parent.update(deleted=True, deleted_at=1)
        put(link.table, parent)
        parent_items.append(parent)

    python_says = holds(may_replace(write), stored_item) and (
        not write.parents or all(holds(LIVE, parent) for parent in parent_items)
    )
    outcome = store.apply(write)

    assert outcome == ("applied" if python_says else "stale"), (case, outcome)
    raw = stack.dynamodb.get_item(
        TableName=names[case.table], Key={k: _serialize(v) for k, v in write.key.items()}, ConsistentRead=True
    ).get("Item")
    version_now = int(raw["version"]["N"]) if raw else None
    expected = write.version if python_says else (stored_item or {}).get("version")
    assert version_now == expected
