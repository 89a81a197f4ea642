"""The synced tables, declared once: each one's key, the parents a live record needs, its tombstone rule.

Everything that names a synced table reads this registry: settings (the variable and default name of
each table), the PynamoDB models (a test proves they and template.yaml agree with it), the store, the
rule module, the clean-ups, backfill, and the tooling (provisioning, `clerk-sync dump`) and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Table(StrEnum):
    """The synced tables, by logical name."""

    USERS = "users"
    ORGANIZATIONS = "organizations"
    MEMBERSHIPS = "memberships"
    SESSIONS = "sessions"
    INVITATIONS = "invitations"
    ROLES = "roles"
    PERMISSIONS = "permissions"
    DOMAINS = "domains"
    WAITLIST = "waitlist"
    SUBSCRIPTIONS = "subscriptions"
    SUBSCRIPTION_ITEMS = "subscription_items"
    PAYMENT_ATTEMPTS = "payment_attempts"
    PLANS = "plans"


@dataclass(frozen=True)
class ParentLink:
    """A record of `table` whose id is this record's `field`: while it is tombstoned, no write makes this
    record live, and its clean-up tombstones this one, finding it through `index` (None: `field` is
    this table's partition key). A record without `field` has no such parent (a payer is a user or an
    organization)."""

    table: Table
    field: str
    index: str | None


@dataclass(frozen=True)
class TableSpec:
    """What the code needs to know of one synced table."""

    table: Table
    template_id: str
    """The table's logical id in template.yaml."""
    key_names: tuple[str, ...]
    """The partition key, then the sort key if there is one."""
    parents: tuple[ParentLink, ...] = ()
    final_tombstones: bool = False
    """True: a tombstone here is final (no later create or update revives the record)."""
    from_webhooks: bool = True
    """False: no webhook writes this table, only backfill (plans: webhooks carry them without features)."""


_USER = ParentLink(Table.USERS, "user_id", "user-index")
_ORGANIZATION = ParentLink(Table.ORGANIZATIONS, "organization_id", "organization-index")
_PAYER = (_USER, _ORGANIZATION)  # billing records: the payer is a user or an organization

TABLES: Mapping[Table, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(Table.USERS, "UsersTable", ("id",), final_tombstones=True),
        TableSpec(Table.ORGANIZATIONS, "OrganizationsTable", ("id",), final_tombstones=True),
        TableSpec(
            Table.MEMBERSHIPS,
            "MembershipsTable",
            ("organization_id", "user_id"),
            parents=(_USER, ParentLink(Table.ORGANIZATIONS, "organization_id", None)),
        ),
        TableSpec(Table.SESSIONS, "SessionsTable", ("id",), parents=(_USER,)),
        TableSpec(Table.INVITATIONS, "InvitationsTable", ("id",), parents=(_ORGANIZATION,)),
        TableSpec(Table.ROLES, "RolesTable", ("id",), final_tombstones=True),
        TableSpec(Table.PERMISSIONS, "PermissionsTable", ("id",), final_tombstones=True),
        TableSpec(Table.DOMAINS, "DomainsTable", ("id",), parents=(_ORGANIZATION,), final_tombstones=True),
        TableSpec(Table.WAITLIST, "WaitlistTable", ("id",)),
        TableSpec(Table.SUBSCRIPTIONS, "SubscriptionsTable", ("id",), parents=_PAYER),
        TableSpec(Table.SUBSCRIPTION_ITEMS, "SubscriptionItemsTable", ("id",), parents=_PAYER),
        TableSpec(Table.PAYMENT_ATTEMPTS, "PaymentAttemptsTable", ("id",), parents=_PAYER),
        TableSpec(Table.PLANS, "PlansTable", ("id",), from_webhooks=False),
    )
}


def children_of(parent: Table) -> tuple[tuple[TableSpec, ParentLink], ...]:
    """The tables whose records a tombstone of `parent` tombstones, in registry order (the phases of
    its clean-up)."""
    return tuple((spec, link) for spec in TABLES.values() for link in spec.parents if link.table is parent)


IDEMPOTENCY_TEMPLATE_ID = "IdempotencyTable"
"""The logical id of the table the functions keep their own records in (idempotency, e-mail claims,
spilled payloads): not synced, so not a `Table`."""
