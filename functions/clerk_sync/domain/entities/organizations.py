"""organization.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.plans import Plan, live, pick, required_id, tombstone
from clerk_sync.domain.tables import Table

ORGANIZATION_FIELDS = (
    "name",
    "slug",
    "image_url",
    "created_by",
    "members_count",
    "max_allowed_memberships",
    "public_metadata",
    "private_metadata",
    "created_at",
    "updated_at",
)


def plan_organization_upsert(event: Event) -> Plan:
    """organization.created / organization.updated: store the organization."""
    org_id = required_id(event.field("id"), "data.id")
    write = live(event, Table.ORGANIZATIONS, {"id": org_id}, pick(event.data, ORGANIZATION_FIELDS))
    return Plan(event.type, org_id, write)


def plan_organization_deleted(event: Event) -> Plan:
    """organization.deleted: a final tombstone, then clean-up of its memberships."""
    org_id = required_id(event.field("id"), "data.id")
    write = tombstone(event, Table.ORGANIZATIONS, {"id": org_id})
    return Plan(event.type, org_id, write, (effects.organization_cleanup(event),))


PLANNERS: dict[str, Callable[[Event], Plan]] = {
    "organization.created": plan_organization_upsert,
    "organization.updated": plan_organization_upsert,
    "organization.deleted": plan_organization_deleted,
}
