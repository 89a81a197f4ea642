"""role.created / .updated / .deleted: custom organization roles and the permissions each grants."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.plans import InvalidEventError, Plan, live, pick, required_id, required_text, tombstone
from clerk_sync.domain.tables import Table

ROLE_FIELDS = ("key", "name", "description", "is_creator_eligible", "created_at", "updated_at")


def permission_keys(permissions: object) -> list[str]:
    """The keys of a role's `permissions` (Permission objects, or keys already)."""
    if permissions is None:
        return []
    if not isinstance(permissions, list):
        raise InvalidEventError("data.permissions is not a list")
    keys = [p.get("key") if isinstance(p, dict) else p for p in permissions]
    if not all(isinstance(key, str) and key for key in keys):
        raise InvalidEventError("data.permissions has an entry without a key")
    return [str(key) for key in keys]


def plan_role_upsert(event: Event) -> Plan:
    """role.created / role.updated: the role, its permissions as their keys."""
    role_id = required_id(event.field("id"), "data.id")
    required_text(event.field("key"), "data.key")
    fields = {**pick(event.data, ROLE_FIELDS), "permissions": permission_keys(event.field("permissions"))}
    return Plan(event.type, role_id, live(event, Table.ROLES, {"id": role_id}, fields))


def plan_role_deleted(event: Event) -> Plan:
    """role.deleted: a final tombstone (a role made again with the same key has a new id)."""
    role_id = required_id(event.field("id"), "data.id")
    return Plan(event.type, role_id, tombstone(event, Table.ROLES, {"id": role_id}))


PLANNERS: dict[str, Callable[[Event], Plan]] = {
    "role.created": plan_role_upsert,
    "role.updated": plan_role_upsert,
    "role.deleted": plan_role_deleted,
}
