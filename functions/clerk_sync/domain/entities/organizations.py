"""organization.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id, tombstone

ORGANIZATION_FIELDS = TABLES[Table.ORGANIZATIONS].copied  # as Clerk sends them (domain/tables.py)


def on_organization_upsert(event: Event) -> Changes:
    """organization.created / organization.updated: store the organization."""
    org_id = required_id(event.field("id"), "data.id")
    write = live(event, Table.ORGANIZATIONS, {"id": org_id}, pick(event.data, ORGANIZATION_FIELDS))
    return Changes(event.type, org_id, write)


def on_organization_deleted(event: Event) -> Changes:
    """organization.deleted: a final tombstone, then clean-up of its memberships."""
    org_id = required_id(event.field("id"), "data.id")
    write = tombstone(event, Table.ORGANIZATIONS, {"id": org_id})
    return Changes(event.type, org_id, write, (effects.organization_cleanup(event),))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "organization.created": on_organization_upsert,
    "organization.updated": on_organization_upsert,
    "organization.deleted": on_organization_deleted,
}
