"""role.created / .updated / .deleted: custom organization roles and the permissions each grants."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import (
    Changes,
    InvalidEventError,
    live,
    pick,
    required_id,
    required_text,
    tombstone,
)

ROLE_FIELDS = TABLES[Table.ROLES].copied  # as Clerk sends them (domain/tables.py)


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


def on_role_upsert(event: Event) -> Changes:
    """role.created / role.updated: the role, its permissions as their keys."""
    role_id = required_id(event.field("id"), "data.id")
    required_text(event.field("key"), "data.key")
    fields = {**pick(event.data, ROLE_FIELDS), "permissions": permission_keys(event.field("permissions"))}
    return Changes(event.type, role_id, live(event, Table.ROLES, {"id": role_id}, fields))


def on_role_deleted(event: Event) -> Changes:
    """role.deleted: a final tombstone (a role made again with the same key has a new id)."""
    role_id = required_id(event.field("id"), "data.id")
    return Changes(event.type, role_id, tombstone(event, Table.ROLES, {"id": role_id}))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "role.created": on_role_upsert,
    "role.updated": on_role_upsert,
    "role.deleted": on_role_deleted,
}
