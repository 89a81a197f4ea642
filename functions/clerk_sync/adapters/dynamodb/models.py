"""PynamoDB models: the public schema of the synced tables (one model per table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from clerk_sync.adapters.dynamodb.pynamodb_internals import bound_model, share_client
from clerk_sync.domain.tables import Table
from clerk_sync.settings import Tables, default_table


class Versioned(Model):
    """Attributes every synced record carries: its version, the event that wrote it, tombstone marks."""

    version = NumberAttribute()  # Clerk's time: updated_at or the deletion time, in ms (items: see
    # domain/entities/subscription_items.py)
    svix_id = UnicodeAttribute()  # the delivery that wrote this version
    deleted = BooleanAttribute(null=True)
    deleted_at = NumberAttribute(null=True)
    created_at = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)


class EmailIndex(GlobalSecondaryIndex["UserRecord"]):
    """Users by primary e-mail address."""

    class Meta:
        index_name = "email-index"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


class EmailAddress(MapAttribute[str, Any]):
    """One of a user's e-mail addresses."""

    id = UnicodeAttribute(null=True)
    email_address = UnicodeAttribute(null=True)
    verification_status = UnicodeAttribute(null=True)


class UserRecord(Versioned):
    """A Clerk user (table `users`)."""

    class Meta:
        table_name = default_table(Table.USERS)

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    email_addresses = ListAttribute(of=EmailAddress, null=True)
    phone_number = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)
    public_metadata = MapAttribute[str, Any](null=True)
    private_metadata = MapAttribute[str, Any](null=True)
    unsafe_metadata = MapAttribute[str, Any](null=True)
    banned = BooleanAttribute(null=True)
    locked = BooleanAttribute(null=True)
    last_sign_in_at = NumberAttribute(null=True)
    last_active_at = NumberAttribute(null=True)
    email_index = EmailIndex()


class SlugIndex(GlobalSecondaryIndex["OrganizationRecord"]):
    """Organizations by slug."""

    class Meta:
        index_name = "slug-index"
        projection = AllProjection()

    slug = UnicodeAttribute(hash_key=True)


class OrganizationRecord(Versioned):
    """A Clerk organization (table `organizations`)."""

    class Meta:
        table_name = default_table(Table.ORGANIZATIONS)

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    slug = UnicodeAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    members_count = NumberAttribute(null=True)
    max_allowed_memberships = NumberAttribute(null=True)
    public_metadata = MapAttribute[str, Any](null=True)
    private_metadata = MapAttribute[str, Any](null=True)
    slug_index = SlugIndex()


class MembershipUserIndex(GlobalSecondaryIndex["MembershipRecord"]):
    """Memberships by user."""

    class Meta:
        index_name = "user-index"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    organization_id = UnicodeAttribute(range_key=True)


class MembershipRecord(Versioned):
    """A user's membership of an organization (table `memberships`)."""

    class Meta:
        table_name = default_table(Table.MEMBERSHIPS)

    organization_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    permissions = ListAttribute(of=UnicodeAttribute, null=True)
    public_metadata = MapAttribute[str, Any](null=True)
    user_index = MembershipUserIndex()


class SessionUserIndex(GlobalSecondaryIndex["SessionRecord"]):
    """Sessions by user."""

    class Meta:
        index_name = "user-index"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)


class SessionRecord(Versioned):
    """A Clerk session (table `sessions`)."""

    class Meta:
        table_name = default_table(Table.SESSIONS)

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    last_active_organization_id = UnicodeAttribute(null=True)
    last_active_at = NumberAttribute(null=True)
    expire_at = NumberAttribute(null=True)
    abandon_at = NumberAttribute(null=True)
    user_index = SessionUserIndex()


def _index(model: str, name: str, attribute: str) -> type[GlobalSecondaryIndex[Any]]:
    """A global secondary index `name` (all attributes projected) keyed by one string `attribute`."""
    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    doc = f"{model} by {attribute}."
    return type(
        f"{model}_{attribute}_index",
        (GlobalSecondaryIndex,),
        {"__doc__": doc, "Meta": meta, attribute: UnicodeAttribute(hash_key=True)},
    )


class InvitationRecord(Versioned):
    """An organization invitation (table `invitations`)."""

    class Meta:
        table_name = default_table(Table.INVITATIONS)

    id = UnicodeAttribute(hash_key=True)
    organization_id = UnicodeAttribute(null=True)
    email_address = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    role_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    public_metadata = MapAttribute[str, Any](null=True)
    private_metadata = MapAttribute[str, Any](null=True)
    expires_at = NumberAttribute(null=True)
    organization_index = _index("Invitations", "organization-index", "organization_id")()
    email_index = _index("Invitations", "email-index", "email_address")()


class RoleRecord(Versioned):
    """A custom organization role and the keys of the permissions it grants (table `roles`)."""

    class Meta:
        table_name = default_table(Table.ROLES)

    id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    permissions = ListAttribute(of=UnicodeAttribute, null=True)
    is_creator_eligible = BooleanAttribute(null=True)
    key_index = _index("Roles", "key-index", "key")()


class PermissionRecord(Versioned):
    """An organization permission (table `permissions`)."""

    class Meta:
        table_name = default_table(Table.PERMISSIONS)

    id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    type = UnicodeAttribute(null=True)
    key_index = _index("Permissions", "key-index", "key")()


class DomainRecord(Versioned):
    """An organization's domain (table `domains`)."""

    class Meta:
        table_name = default_table(Table.DOMAINS)

    id = UnicodeAttribute(hash_key=True)
    organization_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    enrollment_mode = UnicodeAttribute(null=True)
    verification_status = UnicodeAttribute(null=True)
    verification_strategy = UnicodeAttribute(null=True)
    total_pending_invitations = NumberAttribute(null=True)
    total_pending_suggestions = NumberAttribute(null=True)
    organization_index = _index("Domains", "organization-index", "organization_id")()
    name_index = _index("Domains", "name-index", "name")()


class WaitlistRecord(Versioned):
    """A waitlist entry (table `waitlist`)."""

    class Meta:
        table_name = default_table(Table.WAITLIST)

    id = UnicodeAttribute(hash_key=True)
    email_address = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    is_locked = BooleanAttribute(null=True)
    invitation_id = UnicodeAttribute(null=True)
    email_index = _index("Waitlist", "email-index", "email_address")()


class PaidBy(Versioned):
    """Who pays for a billing record: Clerk's payer id, and the user or organization it is."""

    payer_id = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    organization_id = UnicodeAttribute(null=True)


class SubscriptionRecord(PaidBy):
    """A Clerk Billing subscription (table `subscriptions`)."""

    class Meta:
        table_name = default_table(Table.SUBSCRIPTIONS)

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(null=True)
    latest_payment_id = UnicodeAttribute(null=True)
    payment_source_id = UnicodeAttribute(null=True)
    active_at = NumberAttribute(null=True)
    canceled_at = NumberAttribute(null=True)
    ended_at = NumberAttribute(null=True)
    past_due_at = NumberAttribute(null=True)
    user_index = _index("Subscriptions", "user-index", "user_id")()
    organization_index = _index("Subscriptions", "organization-index", "organization_id")()


class Feature(MapAttribute[str, Any]):
    """A feature a plan includes."""

    id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    slug = UnicodeAttribute(null=True)


class BillingPlan(MapAttribute[str, Any]):
    """The plan a subscription item is for."""

    id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    slug = UnicodeAttribute(null=True)
    is_default = BooleanAttribute(null=True)
    for_payer_type = UnicodeAttribute(null=True)
    features = ListAttribute(of=Feature, null=True)


class SubscriptionItemRecord(PaidBy):
    """A Clerk Billing subscription item: one plan, its period and status (table `subscription_items`)."""

    class Meta:
        table_name = default_table(Table.SUBSCRIPTION_ITEMS)

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(null=True)
    plan_id = UnicodeAttribute(null=True)
    plan = BillingPlan(null=True)
    plan_period = UnicodeAttribute(null=True)
    period_start = NumberAttribute(null=True)
    period_end = NumberAttribute(null=True)
    canceled_at = NumberAttribute(null=True)
    past_due_at = NumberAttribute(null=True)
    ended_at = NumberAttribute(null=True)
    is_free_trial = BooleanAttribute(null=True)
    user_index = _index("SubscriptionItems", "user-index", "user_id")()
    organization_index = _index("SubscriptionItems", "organization-index", "organization_id")()


class FailedReason(MapAttribute[str, Any]):
    """Why a payment attempt failed."""

    code = UnicodeAttribute(null=True)
    decline_code = UnicodeAttribute(null=True)


class PaymentAttemptRecord(PaidBy):
    """A Clerk Billing payment attempt (table `payment_attempts`)."""

    class Meta:
        table_name = default_table(Table.PAYMENT_ATTEMPTS)

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute(null=True)
    statement_id = UnicodeAttribute(null=True)
    charge_type = UnicodeAttribute(null=True)
    totals = MapAttribute[str, Any](null=True)
    billing_date = NumberAttribute(null=True)
    paid_at = NumberAttribute(null=True)
    failed_at = NumberAttribute(null=True)
    failed_reason = FailedReason(null=True)
    subscription_item_ids = ListAttribute(of=UnicodeAttribute, null=True)
    user_index = _index("PaymentAttempts", "user-index", "user_id")()
    organization_index = _index("PaymentAttempts", "organization-index", "organization_id")()


class PlanFeature(Feature):
    """A feature as the Backend API lists it on a plan."""

    description = UnicodeAttribute(null=True)


class PlanRecord(Versioned):
    """A Clerk Billing plan and the features it includes (table `plans`, written by backfill only:
    webhook plans carry no features). `version` is the backfill run's clock (plans have no updated_at)."""

    class Meta:
        table_name = default_table(Table.PLANS)

    id = UnicodeAttribute(hash_key=True)
    slug = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    for_payer_type = UnicodeAttribute(null=True)  # "user" or "org"
    is_default = BooleanAttribute(null=True)
    is_recurring = BooleanAttribute(null=True)
    publicly_visible = BooleanAttribute(null=True)
    features = ListAttribute(of=PlanFeature, null=True)


RECORDS: Mapping[Table, type[Versioned]] = {
    Table.USERS: UserRecord,
    Table.ORGANIZATIONS: OrganizationRecord,
    Table.MEMBERSHIPS: MembershipRecord,
    Table.SESSIONS: SessionRecord,
    Table.INVITATIONS: InvitationRecord,
    Table.ROLES: RoleRecord,
    Table.PERMISSIONS: PermissionRecord,
    Table.DOMAINS: DomainRecord,
    Table.WAITLIST: WaitlistRecord,
    Table.SUBSCRIPTIONS: SubscriptionRecord,
    Table.SUBSCRIPTION_ITEMS: SubscriptionItemRecord,
    Table.PAYMENT_ATTEMPTS: PaymentAttemptRecord,
    Table.PLANS: PlanRecord,
}
"""The model of each synced table (a test proves they agree with the registry and template.yaml)."""


M = TypeVar("M", bound=Model)


def _bind(model: type[M], table_name: str, region: str | None, host: str | None) -> type[M]:
    settings: dict[str, object] = {
        "table_name": table_name,
        "connect_timeout_seconds": 2,
        "read_timeout_seconds": 3,
        "max_retry_attempts": 2,
    }
    if region:
        settings["region"] = region
    if host:
        settings["host"] = host
    meta = type("Meta", (), settings)
    return bound_model(model, meta)


@dataclass(frozen=True)
class Models:
    """The model classes bound to one deployment's table names and endpoint."""

    bound: Mapping[Table, type[Versioned]]

    @property
    def users(self) -> type[UserRecord]:
        """The bound users model."""
        return self._typed(Table.USERS, UserRecord)

    @property
    def organizations(self) -> type[OrganizationRecord]:
        """The bound organizations model."""
        return self._typed(Table.ORGANIZATIONS, OrganizationRecord)

    @property
    def memberships(self) -> type[MembershipRecord]:
        """The bound memberships model."""
        return self._typed(Table.MEMBERSHIPS, MembershipRecord)

    @property
    def sessions(self) -> type[SessionRecord]:
        """The bound sessions model."""
        return self._typed(Table.SESSIONS, SessionRecord)

    def all(self) -> tuple[type[Versioned], ...]:
        """Every bound model."""
        return tuple(self.bound.values())

    def for_table(self, table: Table) -> type[Versioned]:
        """The model class of a synced table."""
        return self.bound[table]

    def _typed(self, table: Table, kind: type[V]) -> type[V]:
        model = self.bound[table]
        assert issubclass(model, kind)
        return model


V = TypeVar("V", bound=Versioned)


def bind_models(
    tables: Tables, region: str | None = None, host: str | None = None, client: Any = None
) -> Models:
    """Model classes for these table names (host None: the standard AWS endpoint resolution).

    `client`: a botocore DynamoDB client for every model to share. PynamoDB would otherwise create a
    botocore session and client per model class, loading the DynamoDB service model each time: one
    shared client, made at init, keeps that off the cold start and the first request.
    """
    models = Models(
        {table: _bind(record, tables.name_of(table), region, host) for table, record in RECORDS.items()}
    )
    if client is not None:
        for model in models.all():
            share_client(model, client)
    return models
