"""PynamoDB models: the public schema of the synced tables (one model per table)."""

from __future__ import annotations

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

from clerk_sync.domain.tables import Table
from clerk_sync.settings import DEFAULT_TABLES, Tables


class Versioned(Model):
    """Attributes every synced record carries: its version, the event that wrote it, tombstone marks."""

    version = NumberAttribute()  # ms in Clerk's time: updated_at, or the deletion time
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
        table_name = DEFAULT_TABLES["USERS_TABLE"]

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
        table_name = DEFAULT_TABLES["ORGANIZATIONS_TABLE"]

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
        table_name = DEFAULT_TABLES["MEMBERSHIPS_TABLE"]

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
        table_name = DEFAULT_TABLES["SESSIONS_TABLE"]

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    last_active_organization_id = UnicodeAttribute(null=True)
    last_active_at = NumberAttribute(null=True)
    expire_at = NumberAttribute(null=True)
    abandon_at = NumberAttribute(null=True)
    user_index = SessionUserIndex()


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
    return type(model.__name__, (model,), {"Meta": meta, "_connection": None})


@dataclass(frozen=True)
class Models:
    """The model classes bound to one deployment's table names and endpoint."""

    users: type[UserRecord]
    organizations: type[OrganizationRecord]
    memberships: type[MembershipRecord]
    sessions: type[SessionRecord]

    def all(self) -> tuple[type[Versioned], ...]:
        """Every bound model."""
        return (self.users, self.organizations, self.memberships, self.sessions)

    def for_table(self, table: Table) -> type[Versioned]:
        """The model class of a synced table (its field here is named by the table's logical name)."""
        model: type[Versioned] = getattr(self, table.value)
        return model


def bind_models(
    tables: Tables, region: str | None = None, host: str | None = None, client: Any = None
) -> Models:
    """Model classes for these table names (host None: the standard AWS endpoint resolution).

    `client`: a botocore DynamoDB client for every model to share. PynamoDB would otherwise create a
    botocore session and client per model class, loading the DynamoDB service model each time: one
    shared client, made at init, keeps that off the cold start and the first request.
    """
    models = Models(
        users=_bind(UserRecord, tables.users, region, host),
        organizations=_bind(OrganizationRecord, tables.organizations, region, host),
        memberships=_bind(MembershipRecord, tables.memberships, region, host),
        sessions=_bind(SessionRecord, tables.sessions, region, host),
    )
    if client is not None:
        for model in models.all():
            model._get_connection().connection._client = client
    return models
