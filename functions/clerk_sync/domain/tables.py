"""The synced tables, declared once: each one's key, the parents a live record needs, its tombstone rule.

Everything that names a synced table reads this registry: settings (the variable and default name of
each table), the PynamoDB models (a test proves they and template.yaml agree with it), the store, the
rule module, backfill, and the tooling (provisioning, `clerk-sync dump`) and tests.
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


@dataclass(frozen=True)
class ParentLink:
    """A record of `table` whose id is this record's `field`: while it is tombstoned, no write makes this
    record live (and its clean-up tombstones this one)."""

    table: Table
    field: str


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


TABLES: Mapping[Table, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(Table.USERS, "UsersTable", ("id",), final_tombstones=True),
        TableSpec(Table.ORGANIZATIONS, "OrganizationsTable", ("id",), final_tombstones=True),
        TableSpec(
            Table.MEMBERSHIPS,
            "MembershipsTable",
            ("organization_id", "user_id"),
            parents=(ParentLink(Table.USERS, "user_id"), ParentLink(Table.ORGANIZATIONS, "organization_id")),
        ),
        TableSpec(Table.SESSIONS, "SessionsTable", ("id",), parents=(ParentLink(Table.USERS, "user_id"),)),
    )
}

IDEMPOTENCY_TEMPLATE_ID = "IdempotencyTable"
"""The logical id of the table the functions keep their own records in (idempotency, e-mail claims,
spilled payloads): not synced, so not a `Table`."""
