"""What an event means for the stored state: pure decisions, no I/O.

`PLANNERS` is the event-type table: each Clerk event type maps to the function that turns it into a
`Plan` (at most one version-guarded write plus side-effect messages). Types not in the table are
acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from clerk_sync import effects
from clerk_sync.effects import Effect
from clerk_sync.events import Event


class InvalidEventError(Exception):
    """A known event type whose data lacks what applying it needs (answer 400)."""


class Table(StrEnum):
    """The synced tables."""

    USERS = "users"
    ORGANIZATIONS = "organizations"
    MEMBERSHIPS = "memberships"
    SESSIONS = "sessions"


# Tombstones in these tables are final: no later create or update brings the record back.
FINAL_TOMBSTONES = frozenset({Table.USERS, Table.ORGANIZATIONS})


@dataclass(frozen=True)
class Parent:
    """A record that must not be tombstoned for a write to make its child live."""

    table: Table
    id: str


@dataclass(frozen=True)
class Write:
    """One version-guarded write: `item` replaces the stored record if `version` is newer."""

    table: Table
    key: dict[str, str]
    item: dict[str, Any]
    version: int
    tombstone: bool
    parents: tuple[Parent, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where an item attribute comes from in the event, when not `data.<its name>` (for error messages)."""


@dataclass(frozen=True)
class Plan:
    """Everything one event asks for."""

    event_type: str
    entity_id: str | None
    write: Write | None = None
    effects: tuple[Effect, ...] = field(default=())

    @property
    def ignored(self) -> bool:
        """True when the event changes nothing here."""
        return self.write is None and not self.effects


def _required_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"missing {what}")
    return value


def _version(event: Event) -> int:
    version = event.field("updated_at")  # Clerk's `*_at` fields are milliseconds
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidEventError("missing data.updated_at")
    return version


def _pick(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in names if data.get(name) is not None}


def _tombstone(event: Event, table: Table, key: dict[str, str]) -> Write:
    item = {
        **key,
        "deleted": True,
        "deleted_at": event.occurred_at,
        "version": event.occurred_at,
        "svix_id": event.svix_id,
    }
    sources = {"version": "timestamp", "deleted_at": "timestamp"}
    return Write(table=table, key=key, item=item, version=event.occurred_at, tombstone=True, sources=sources)


def _live(
    event: Event,
    table: Table,
    key: dict[str, str],
    fields: dict[str, Any],
    parents: tuple[Parent, ...] = (),
    sources: Mapping[str, str] | None = None,
) -> Write:
    version = _version(event)
    item = {**fields, **key, "version": version, "svix_id": event.svix_id}
    return Write(
        table=table,
        key=key,
        item=item,
        version=version,
        tombstone=False,
        parents=parents,
        sources={**(sources or {}), "version": "data.updated_at"},
    )


def _primary(entries: object, primary_id: object, value_field: str) -> str | None:
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == primary_id:
            value = entry.get(value_field)
            return value if isinstance(value, str) and value else None
    return None


USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "image_url",
    "external_id",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
    "banned",
    "locked",
    "last_sign_in_at",
    "last_active_at",
    "created_at",
    "updated_at",
)


def _verification_status(verification: object) -> object:
    return verification.get("status") if isinstance(verification, dict) else None


# Stored user attributes read from elsewhere in the event than `data.<their name>`.
USER_SOURCES = {"email": "data.email_addresses", "phone_number": "data.phone_numbers"}


def user_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The stored attributes of a Clerk user object."""
    raw_addresses = data.get("email_addresses")
    addresses: list[Any] = raw_addresses if isinstance(raw_addresses, list) else []
    stored_addresses = [
        _pick(
            {
                "id": a.get("id"),
                "email_address": a.get("email_address"),
                "verification_status": _verification_status(a.get("verification")),
            },
            ("id", "email_address", "verification_status"),
        )
        for a in addresses
        if isinstance(a, dict)
    ]
    return {
        **_pick(data, USER_FIELDS),
        **_pick(
            {
                "email": _primary(addresses, data.get("primary_email_address_id"), "email_address"),
                "phone_number": _primary(
                    data.get("phone_numbers"), data.get("primary_phone_number_id"), "phone_number"
                ),
            },
            ("email", "phone_number"),
        ),
        "email_addresses": stored_addresses,
    }


def plan_user_upsert(event: Event) -> Plan:
    """user.created / user.updated: store the user; a creation also greets them."""
    user_id = _required_id(event.field("id"), "data.id")
    fields = user_fields(event.data)
    write = _live(event, Table.USERS, {"id": user_id}, fields, sources=USER_SOURCES)
    greet = (effects.welcome_email(event, fields.get("email")),) if event.type == "user.created" else ()
    return Plan(event.type, user_id, write, greet)


def plan_user_deleted(event: Event) -> Plan:
    """user.deleted: a final tombstone, then clean-up of the user's memberships and sessions."""
    user_id = _required_id(event.field("id"), "data.id")
    write = _tombstone(event, Table.USERS, {"id": user_id})
    return Plan(event.type, user_id, write, (effects.user_cleanup(event),))


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
    org_id = _required_id(event.field("id"), "data.id")
    write = _live(event, Table.ORGANIZATIONS, {"id": org_id}, _pick(event.data, ORGANIZATION_FIELDS))
    return Plan(event.type, org_id, write)


def plan_organization_deleted(event: Event) -> Plan:
    """organization.deleted: a final tombstone, then clean-up of its memberships."""
    org_id = _required_id(event.field("id"), "data.id")
    write = _tombstone(event, Table.ORGANIZATIONS, {"id": org_id})
    return Plan(event.type, org_id, write, (effects.organization_cleanup(event),))


MEMBERSHIP_FIELDS = ("id", "role", "permissions", "public_metadata", "created_at", "updated_at")


def _membership_key(event: Event) -> dict[str, str]:
    organization = event.field("organization")
    user_data = event.field("public_user_data")
    return {
        "organization_id": _required_id(
            isinstance(organization, dict) and organization.get("id"), "data.organization.id"
        ),
        "user_id": _required_id(
            isinstance(user_data, dict) and user_data.get("user_id"), "data.public_user_data.user_id"
        ),
    }


def plan_membership_upsert(event: Event) -> Plan:
    """organizationMembership.created / .updated: store it while its user and organization live."""
    key = _membership_key(event)
    parents = (Parent(Table.USERS, key["user_id"]), Parent(Table.ORGANIZATIONS, key["organization_id"]))
    write = _live(event, Table.MEMBERSHIPS, key, _pick(event.data, MEMBERSHIP_FIELDS), parents)
    return Plan(event.type, event.field("id") or key["organization_id"], write)


def plan_membership_deleted(event: Event) -> Plan:
    """organizationMembership.deleted: a tombstone that a newer re-join replaces."""
    key = _membership_key(event)
    return Plan(
        event.type, event.field("id") or key["organization_id"], _tombstone(event, Table.MEMBERSHIPS, key)
    )


SESSION_FIELDS = (
    "user_id",
    "client_id",
    "status",
    "last_active_organization_id",
    "last_active_at",
    "expire_at",
    "abandon_at",
    "created_at",
    "updated_at",
)


def plan_session_upsert(event: Event) -> Plan:
    """session.*: store the session's latest state while its user lives."""
    session_id = _required_id(event.field("id"), "data.id")
    user_id = _required_id(event.field("user_id"), "data.user_id")
    write = _live(
        event,
        Table.SESSIONS,
        {"id": session_id},
        _pick(event.data, SESSION_FIELDS),
        (Parent(Table.USERS, user_id),),
    )
    return Plan(event.type, session_id, write)


def plan_email(event: Event) -> Plan:
    """email.created: deliver it ourselves when the app took delivery over from Clerk."""
    email_id = event.field("id") if isinstance(event.field("id"), str) else None
    if event.field("delivered_by_clerk") is not False:
        return Plan(event.type, email_id)
    _required_id(email_id, "data.id")
    _required_id(event.field("to_email_address"), "data.to_email_address")
    return Plan(event.type, email_id, effects=(effects.deliver_email(event),))


PLANNERS: dict[str, Callable[[Event], Plan]] = {
    "user.created": plan_user_upsert,
    "user.updated": plan_user_upsert,
    "user.deleted": plan_user_deleted,
    "organization.created": plan_organization_upsert,
    "organization.updated": plan_organization_upsert,
    "organization.deleted": plan_organization_deleted,
    "organizationMembership.created": plan_membership_upsert,
    "organizationMembership.updated": plan_membership_upsert,
    "organizationMembership.deleted": plan_membership_deleted,
    "session.created": plan_session_upsert,
    "session.ended": plan_session_upsert,
    "session.removed": plan_session_upsert,
    "session.revoked": plan_session_upsert,
    "session.pending": plan_session_upsert,
    "email.created": plan_email,
}


def plan(event: Event) -> Plan:
    """The plan for an event; unknown types get an empty (ignored) plan."""
    planner = PLANNERS.get(event.type)
    if planner is None:
        data_id = event.field("id")
        return Plan(event.type, data_id if isinstance(data_id, str) else None)
    return planner(event)
