"""organizationMembership.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, optional_id, pick, required_id, tombstone

MEMBERSHIP_FIELDS = TABLES[Table.MEMBERSHIPS].copied  # as Clerk sends them (domain/tables.py)
# Of the member's public user data, only the restrictions: the rest is the user's (its own record).
USER_FLAGS = TABLES[Table.MEMBERSHIPS].field("public_user_data").copied


def _membership_key(event: Event) -> dict[str, str]:
    organization = event.field("organization")
    user_data = event.field("public_user_data")
    return {
        "organization_id": required_id(
            isinstance(organization, dict) and organization.get("id"), "data.organization.id"
        ),
        "user_id": required_id(
            isinstance(user_data, dict) and user_data.get("user_id"), "data.public_user_data.user_id"
        ),
    }


def on_membership_upsert(event: Event) -> Changes:
    """organizationMembership.created / .updated: store it while its user and organization live."""
    key = _membership_key(event)
    user_data = event.field("public_user_data")  # a dict: the key needs its user_id
    flags = pick(user_data, USER_FLAGS)
    fields = {**pick(event.data, MEMBERSHIP_FIELDS), **({"public_user_data": flags} if flags else {})}
    write = live(event, Table.MEMBERSHIPS, key, fields)
    return Changes(event.type, optional_id(event.field("id"), "data.id") or key["organization_id"], write)


def on_membership_deleted(event: Event) -> Changes:
    """organizationMembership.deleted: a tombstone that a newer re-join replaces."""
    key = _membership_key(event)
    return Changes(
        event.type,
        optional_id(event.field("id"), "data.id") or key["organization_id"],
        tombstone(event, Table.MEMBERSHIPS, key),
    )


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "organizationMembership.created": on_membership_upsert,
    "organizationMembership.updated": on_membership_upsert,
    "organizationMembership.deleted": on_membership_deleted,
}
