"""permission.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.plans import Plan, live, pick, required_id, required_text, tombstone
from clerk_sync.domain.tables import Table

PERMISSION_FIELDS = ("key", "name", "description", "type", "created_at", "updated_at")


def plan_permission_upsert(event: Event) -> Plan:
    """permission.created / permission.updated: store the permission."""
    permission_id = required_id(event.field("id"), "data.id")
    required_text(event.field("key"), "data.key")
    fields = pick(event.data, PERMISSION_FIELDS)
    return Plan(event.type, permission_id, live(event, Table.PERMISSIONS, {"id": permission_id}, fields))


def plan_permission_deleted(event: Event) -> Plan:
    """permission.deleted: a final tombstone (ids are never reused)."""
    permission_id = required_id(event.field("id"), "data.id")
    return Plan(event.type, permission_id, tombstone(event, Table.PERMISSIONS, {"id": permission_id}))


PLANNERS: dict[str, Callable[[Event], Plan]] = {
    "permission.created": plan_permission_upsert,
    "permission.updated": plan_permission_upsert,
    "permission.deleted": plan_permission_deleted,
}
