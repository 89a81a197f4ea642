"""The synced tables, declared once: the one statement of the schema.

Each table's declaration holds its logical name, the variable naming it and its default (local) name,
its logical id in template.yaml, its key, its indexes, the attributes it stores (type, where in Clerk's
object each comes from, whether it is personal data), the parents a live record needs and its tombstone
rule. Everything else is derived from it or checked against it by a test: settings (the variables and
default names), the PynamoDB models, the read library's records and index look-ups, backfill's listings,
local provisioning and `clerk-sync dump`, template.yaml and the README's schema and environment tables.
Adding a stored field means: its `Field` here, its planner (domain/entities/) and its read record.
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


class FieldType(StrEnum):
    """What a stored attribute holds (DynamoDB's type in brackets)."""

    TEXT = "text"  # S
    NUMBER = "number"  # N: Clerk's millisecond times and counts
    FLAG = "flag"  # BOOL
    MAP = "map"  # M, free-form (metadata, totals)
    TEXTS = "texts"  # L of S
    RECORD = "record"  # M with the declared `fields`
    RECORDS = "records"  # L of M, each with the declared `fields`
    COMPRESSED = "compressed"  # B: zlib of canonical JSON, preset dictionary (domain/complete.py)


@dataclass(frozen=True)
class Field:
    """One stored attribute."""

    name: str
    type: FieldType
    source: str | None = None
    """None: copied as Clerk sends it, from `data.<name>` (or the object's `<name>`); a path: where in
    the event the planner derives it from (domain/entities/)."""
    personal: bool = False
    """True: personal data (or free-form data that may hold it): kept out of logs and of key-only views."""
    fields: tuple[Field, ...] = ()
    """The attributes of each map (RECORD, RECORDS)."""
    required: bool = False
    """True: every record has it; False: absent when Clerk sent nothing (or null)."""

    @property
    def copied(self) -> tuple[str, ...]:
        """The attributes of each map (RECORD, RECORDS) copied from Clerk's as sent."""
        return copied_names(self.fields)

    def field(self, name: str) -> Field:
        """The declared attribute `name` of each map (KeyError: none)."""
        return next(inner for inner in self.fields if inner.name == name)


@dataclass(frozen=True)
class Index:
    """A global secondary index (every attribute projected): its name and string keys."""

    name: str
    hash_key: str
    range_key: str | None = None

    @property
    def key_names(self) -> tuple[str, ...]:
        """The partition key, then the sort key if there is one."""
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)


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
    entity: str
    """Clerk's name for the object (`user`, `organizationMembership`, …): its events' prefix, and the
    change feed's entity."""
    variable: str
    """The environment variable naming the table (template.yaml sets it on every function)."""
    default_name: str
    """The name used when the variable is not set (the local stack's)."""
    template_id: str
    """The table's logical id in template.yaml."""
    key_names: tuple[str, ...]
    """The partition key, then the sort key if there is one."""
    fields: tuple[Field, ...]
    """The attributes a live record stores beyond its key and the bookkeeping every record has."""
    indexes: tuple[Index, ...] = ()
    parents: tuple[ParentLink, ...] = ()
    final_tombstones: bool = False
    """True: a tombstone here is final (no later create or update revives the record)."""
    from_webhooks: bool = True
    """False: no webhook writes this table, only backfill (plans: webhooks carry them without features)."""

    @property
    def copied(self) -> tuple[str, ...]:
        """The attributes a live record copies from Clerk's object as sent, Clerk's times included (the
        planner derives the others, and the key)."""
        return copied_names((*self.fields, *BOOKKEEPING), exclude=self.key_names)

    def index_on(self, attribute: str) -> Index:
        """The index whose partition key is `attribute` (KeyError: the table has none)."""
        for index in self.indexes:
            if index.hash_key == attribute:
                return index
        raise KeyError(f"{self.table.value} has no index on {attribute}")

    def field(self, name: str) -> Field:
        """The declared attribute `name` (KeyError: none)."""
        for declared in (*BOOKKEEPING, *self.fields):
            if declared.name == name:
                return declared
        raise KeyError(f"{self.table.value} stores no {name}")


def copied_names(fields: tuple[Field, ...], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names of the `fields` copied from a Clerk object as sent, but those in `exclude`."""
    return tuple(f.name for f in fields if f.source is None and f.name not in exclude)


CLERK = "clerk"
"""The attribute holding Clerk's complete object, compressed (domain/complete.py)."""

BOOKKEEPING = (
    # Clerk's time of the stored version: updated_at or the deletion time, in ms (subscription items: see
    # domain/entities/subscription_items.py; plans: the backfill run's clock)
    Field("version", FieldType.NUMBER, "data.updated_at", required=True),
    # the delivery (or backfill run) that wrote this version
    Field("svix_id", FieldType.TEXT, "svix-id", required=True),
    Field("deleted", FieldType.FLAG, "type"),  # a tombstone
    Field("deleted_at", FieldType.NUMBER, "timestamp"),
    Field("created_at", FieldType.NUMBER),
    Field("updated_at", FieldType.NUMBER),
    # Clerk's complete object, but what domain/complete.py denies (live records only, not tombstones)
    Field(CLERK, FieldType.COMPRESSED, "data", personal=True),
)
"""What every synced record carries besides its key and fields: its version, the event that wrote it,
the tombstone marks, Clerk's times and (live) Clerk's complete object."""

_BY_EMAIL = "email-index"
_BY_USER = "user-index"
_BY_ORGANIZATION = "organization-index"
_BY_KEY = "key-index"

_USER = ParentLink(Table.USERS, "user_id", _BY_USER)
_ORGANIZATION = ParentLink(Table.ORGANIZATIONS, "organization_id", _BY_ORGANIZATION)
_PAYER = (_USER, _ORGANIZATION)  # billing records: the payer is a user or an organization
_PAYER_FIELDS = (
    Field("payer_id", FieldType.TEXT, "data.payer"),
    Field("user_id", FieldType.TEXT, "data.payer"),
    Field("organization_id", FieldType.TEXT, "data.payer"),
)
_PAYER_INDEXES = (Index(_BY_USER, "user_id"), Index(_BY_ORGANIZATION, "organization_id"))
_METADATA = tuple(
    Field(f"{kind}_metadata", FieldType.MAP, personal=True) for kind in ("public", "private", "unsafe")
)
_FEATURE = (Field("id", FieldType.TEXT), Field("name", FieldType.TEXT), Field("slug", FieldType.TEXT))

TABLES: Mapping[Table, TableSpec] = {
    spec.table: spec
    for spec in (
        TableSpec(
            Table.USERS,
            "user",
            "USERS_TABLE",
            "clerk-sync-users",
            "UsersTable",
            ("id",),
            (
                Field("email", FieldType.TEXT, "data.email_addresses", personal=True),  # the primary address
                Field(
                    "email_addresses",
                    FieldType.RECORDS,
                    "data.email_addresses",
                    personal=True,
                    fields=(
                        Field("id", FieldType.TEXT),
                        Field("email_address", FieldType.TEXT, personal=True),
                        Field("verification_status", FieldType.TEXT, "data.email_addresses.verification"),
                    ),
                ),
                # the primary number
                Field("phone_number", FieldType.TEXT, "data.phone_numbers", personal=True),
                Field("username", FieldType.TEXT, personal=True),
                Field("first_name", FieldType.TEXT, personal=True),
                Field("last_name", FieldType.TEXT, personal=True),
                Field("image_url", FieldType.TEXT, personal=True),
                Field("external_id", FieldType.TEXT),
                *_METADATA,
                Field("banned", FieldType.FLAG),
                Field("locked", FieldType.FLAG),
                Field("deprovisioned", FieldType.FLAG),  # 2026-07: restricted from signing in
                Field(  # 2026-05: users a directory (SCIM) provisioned
                    "scim",
                    FieldType.RECORD,
                    "data.scim",
                    fields=(
                        Field("directory_id", FieldType.TEXT),
                        Field("directory_enabled", FieldType.FLAG),
                        Field("external_id", FieldType.TEXT),
                    ),
                ),
                Field("last_sign_in_at", FieldType.NUMBER),
                Field("last_active_at", FieldType.NUMBER),
            ),
            indexes=(Index(_BY_EMAIL, "email"),),
            final_tombstones=True,
        ),
        TableSpec(
            Table.ORGANIZATIONS,
            "organization",
            "ORGANIZATIONS_TABLE",
            "clerk-sync-organizations",
            "OrganizationsTable",
            ("id",),
            (
                Field("name", FieldType.TEXT),
                Field("slug", FieldType.TEXT),
                Field("image_url", FieldType.TEXT),
                Field("created_by", FieldType.TEXT),
                Field("members_count", FieldType.NUMBER),
                Field("max_allowed_memberships", FieldType.NUMBER),
                Field("role_set_key", FieldType.TEXT),  # 2026-02
                *_METADATA[:2],
            ),
            indexes=(Index("slug-index", "slug"),),
            final_tombstones=True,
        ),
        TableSpec(
            Table.MEMBERSHIPS,
            "organizationMembership",
            "MEMBERSHIPS_TABLE",
            "clerk-sync-memberships",
            "MembershipsTable",
            ("organization_id", "user_id"),
            (
                Field("id", FieldType.TEXT),
                Field("role", FieldType.TEXT),
                Field("permissions", FieldType.TEXTS),
                _METADATA[0],
                Field(  # the member's user's restrictions, where Clerk sends them (2026)
                    "public_user_data",
                    FieldType.RECORD,
                    "data.public_user_data",
                    fields=(Field("banned", FieldType.FLAG), Field("deprovisioned", FieldType.FLAG)),
                ),
            ),
            indexes=(Index(_BY_USER, "user_id", "organization_id"),),
            parents=(_USER, ParentLink(Table.ORGANIZATIONS, "organization_id", None)),
        ),
        TableSpec(
            Table.SESSIONS,
            "session",
            "SESSIONS_TABLE",
            "clerk-sync-sessions",
            "SessionsTable",
            ("id",),
            (
                Field("user_id", FieldType.TEXT),
                Field("client_id", FieldType.TEXT),
                Field("status", FieldType.TEXT),
                Field("last_active_organization_id", FieldType.TEXT),
                Field("last_active_at", FieldType.NUMBER),
                Field("expire_at", FieldType.NUMBER),
                Field("abandon_at", FieldType.NUMBER),
            ),
            indexes=(Index(_BY_USER, "user_id"),),
            parents=(_USER,),
        ),
        TableSpec(
            Table.INVITATIONS,
            "organizationInvitation",
            "INVITATIONS_TABLE",
            "clerk-sync-invitations",
            "InvitationsTable",
            ("id",),
            (
                Field("organization_id", FieldType.TEXT, "data.organization_id"),
                Field("email_address", FieldType.TEXT, personal=True),
                Field("role", FieldType.TEXT),
                Field("role_name", FieldType.TEXT),
                Field("status", FieldType.TEXT),
                Field("user_id", FieldType.TEXT),
                *_METADATA[:2],
                Field("expires_at", FieldType.NUMBER),
            ),
            indexes=(Index(_BY_ORGANIZATION, "organization_id"), Index(_BY_EMAIL, "email_address")),
            parents=(_ORGANIZATION,),
        ),
        TableSpec(
            Table.ROLES,
            "role",
            "ROLES_TABLE",
            "clerk-sync-roles",
            "RolesTable",
            ("id",),
            (
                Field("key", FieldType.TEXT),
                Field("name", FieldType.TEXT),
                Field("description", FieldType.TEXT),
                # the keys of the permissions it grants
                Field("permissions", FieldType.TEXTS, "data.permissions"),
                Field("is_creator_eligible", FieldType.FLAG),
            ),
            indexes=(Index(_BY_KEY, "key"),),
            final_tombstones=True,
        ),
        TableSpec(
            Table.PERMISSIONS,
            "permission",
            "PERMISSIONS_TABLE",
            "clerk-sync-permissions",
            "PermissionsTable",
            ("id",),
            (
                Field("key", FieldType.TEXT),
                Field("name", FieldType.TEXT),
                Field("description", FieldType.TEXT),
                Field("type", FieldType.TEXT),
            ),
            indexes=(Index(_BY_KEY, "key"),),
            final_tombstones=True,
        ),
        TableSpec(
            Table.DOMAINS,
            "organizationDomain",
            "DOMAINS_TABLE",
            "clerk-sync-domains",
            "DomainsTable",
            ("id",),
            (
                Field("organization_id", FieldType.TEXT, "data.organization_id"),
                Field("name", FieldType.TEXT),
                Field("enrollment_mode", FieldType.TEXT),
                Field("verification_status", FieldType.TEXT, "data.verification"),
                Field("verification_strategy", FieldType.TEXT, "data.verification"),
                Field("total_pending_invitations", FieldType.NUMBER),
                Field("total_pending_suggestions", FieldType.NUMBER),
            ),
            indexes=(Index(_BY_ORGANIZATION, "organization_id"), Index("name-index", "name")),
            parents=(_ORGANIZATION,),
            final_tombstones=True,
        ),
        TableSpec(
            Table.WAITLIST,
            "waitlistEntry",
            "WAITLIST_TABLE",
            "clerk-sync-waitlist",
            "WaitlistTable",
            ("id",),
            (
                Field("email_address", FieldType.TEXT, personal=True),
                Field("status", FieldType.TEXT),
                Field("is_locked", FieldType.FLAG),
                Field("invitation_id", FieldType.TEXT, "data.invitation"),
            ),
            indexes=(Index(_BY_EMAIL, "email_address"),),
        ),
        TableSpec(
            Table.SUBSCRIPTIONS,
            "subscription",
            "SUBSCRIPTIONS_TABLE",
            "clerk-sync-subscriptions",
            "SubscriptionsTable",
            ("id",),
            (
                *_PAYER_FIELDS,
                Field("status", FieldType.TEXT),
                Field("latest_payment_id", FieldType.TEXT),
                Field("payment_source_id", FieldType.TEXT),
                Field("active_at", FieldType.NUMBER),
                Field("canceled_at", FieldType.NUMBER),
                Field("ended_at", FieldType.NUMBER),
                Field("past_due_at", FieldType.NUMBER),
            ),
            indexes=_PAYER_INDEXES,
            parents=_PAYER,
        ),
        TableSpec(
            Table.SUBSCRIPTION_ITEMS,
            "subscriptionItem",
            "SUBSCRIPTION_ITEMS_TABLE",
            "clerk-sync-subscription_items",
            "SubscriptionItemsTable",
            ("id",),
            (
                *_PAYER_FIELDS,
                Field("status", FieldType.TEXT),
                Field("plan_id", FieldType.TEXT),
                Field(
                    "plan",
                    FieldType.RECORD,
                    "data.plan",
                    fields=(
                        *_FEATURE,
                        Field("is_default", FieldType.FLAG),
                        Field("for_payer_type", FieldType.TEXT),
                        Field("features", FieldType.RECORDS, "data.plan.features", fields=_FEATURE),
                    ),
                ),
                Field("plan_period", FieldType.TEXT),
                Field("period_start", FieldType.NUMBER),
                Field("period_end", FieldType.NUMBER),
                Field("canceled_at", FieldType.NUMBER),
                Field("past_due_at", FieldType.NUMBER),
                Field("ended_at", FieldType.NUMBER),
                Field("is_free_trial", FieldType.FLAG),
                # 2026-03: the number of seats (Clerk's `seats`, or its `seats.quantity`)
                Field("seats", FieldType.NUMBER, "data.seats"),
            ),
            indexes=_PAYER_INDEXES,
            parents=_PAYER,
        ),
        TableSpec(
            Table.PAYMENT_ATTEMPTS,
            "paymentAttempt",
            "PAYMENT_ATTEMPTS_TABLE",
            "clerk-sync-payment_attempts",
            "PaymentAttemptsTable",
            ("id",),
            (
                *_PAYER_FIELDS,
                Field("status", FieldType.TEXT),
                Field("payment_id", FieldType.TEXT),
                Field("statement_id", FieldType.TEXT),
                Field("charge_type", FieldType.TEXT),
                Field("totals", FieldType.MAP),
                Field("billing_date", FieldType.NUMBER),
                Field("paid_at", FieldType.NUMBER),
                Field("failed_at", FieldType.NUMBER),
                Field(
                    "failed_reason",
                    FieldType.RECORD,
                    "data.failed_reason",
                    fields=(Field("code", FieldType.TEXT), Field("decline_code", FieldType.TEXT)),
                ),
                Field("subscription_item_ids", FieldType.TEXTS, "data.subscription_items"),
            ),
            indexes=_PAYER_INDEXES,
            parents=_PAYER,
        ),
        TableSpec(
            Table.PLANS,
            "plan",
            "PLANS_TABLE",
            "clerk-sync-plans",
            "PlansTable",
            ("id",),
            (
                Field("slug", FieldType.TEXT),
                Field("name", FieldType.TEXT),
                Field("description", FieldType.TEXT),
                Field("for_payer_type", FieldType.TEXT),  # "user" or "org"
                Field("is_default", FieldType.FLAG),
                Field("is_recurring", FieldType.FLAG),
                Field("publicly_visible", FieldType.FLAG),
                Field(
                    "features",
                    FieldType.RECORDS,
                    "features",
                    fields=(*_FEATURE, Field("description", FieldType.TEXT)),
                ),
            ),
            from_webhooks=False,
        ),
    )
}


def children_of(parent: Table) -> tuple[tuple[TableSpec, ParentLink], ...]:
    """The tables whose records a tombstone of `parent` tombstones, in registry order (the phases of
    its clean-up)."""
    return tuple((spec, link) for spec in TABLES.values() for link in spec.parents if link.table is parent)


IDEMPOTENCY_TEMPLATE_ID = "IdempotencyTable"
"""The logical id of the table the functions keep their own records in (idempotency, e-mail claims,
spilled payloads): not synced, so not a `Table`."""
