"""permission.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id, required_text, tombstone

PERMISSION_FIELDS = TABLES[Table.PERMISSIONS].copied  # as Clerk sends them (domain/tables.py)


def on_permission_upsert(event: Event) -> Changes:
    """permission.created / permission.updated: store the permission."""
    permission_id = required_id(event.field("id"), "data.id")
    required_text(event.field("key"), "data.key")
    fields = pick(event.data, PERMISSION_FIELDS)
    return Changes(event.type, permission_id, live(event, Table.PERMISSIONS, {"id": permission_id}, fields))


def on_permission_deleted(event: Event) -> Changes:
    """permission.deleted: a final tombstone (ids are never reused)."""
    permission_id = required_id(event.field("id"), "data.id")
    return Changes(event.type, permission_id, tombstone(event, Table.PERMISSIONS, {"id": permission_id}))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "permission.created": on_permission_upsert,
    "permission.updated": on_permission_upsert,
    "permission.deleted": on_permission_deleted,
}
