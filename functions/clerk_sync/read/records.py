"""The typed, frozen records the read library returns: one class per synced table, no tombstones.

Fields mirror the public schema (adapters/dynamodb/models.py; a test holds the two together) minus the
bookkeeping a reader has no use for (`svix_id`, `deleted`, `deleted_at`). Numbers are `int` (Clerk's
millisecond times and counts; a fractional number in metadata is a `float`), maps are read-only
mappings, lists are tuples. Attributes Clerk sent as `null` were not stored and read as `None`.
Every record's `clerk` is Clerk's complete object (domain/complete.py), decoded on first access.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

from clerk_sync.domain.complete import decompress
from clerk_sync.domain.tables import CLERK

EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_value(value: Any) -> Any:
    """A stored value as an immutable plain one (Decimal → int or float, map → mapping, list → tuple)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen_value(inner) for key, inner in value.items()})
    if isinstance(value, list | tuple | set):
        return tuple(frozen_value(inner) for inner in value)
    return value


class ClerkObject(Mapping[str, Any]):
    """Clerk's complete object of a record as a read-only mapping (nested maps read-only, lists as
    tuples), decoded at its first use; empty when none is stored (written with complete objects off, or
    before they were stored).

    Made from the stored bytes (a table's item: decompressed at first use) or from the object already
    decoded (a change event's `clerk`: made read-only at first use). Its repr never shows the content:
    it holds personal data."""

    __slots__ = ("_decoded", "_given", "_size", "_stored")

    def __init__(self, stored: bytes | Mapping[str, Any] | None) -> None:
        self._stored = bytes(stored) if isinstance(stored, bytes | bytearray) else None
        self._given = stored if isinstance(stored, Mapping) else None
        self._size = None if self._given is not None else len(self._stored or b"")
        self._decoded: Mapping[str, Any] | None = None

    def _object(self) -> Mapping[str, Any]:
        if self._decoded is None:
            if self._given is not None:
                decoded = frozen_value(self._given)
            else:
                decoded = frozen_value(decompress(self._stored)) if self._stored else EMPTY
            self._decoded = decoded if isinstance(decoded, Mapping) else EMPTY
            self._given = None  # the read-only copy is what is kept
        return self._decoded

    def __getitem__(self, key: str) -> Any:
        return self._object()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._object())

    def __len__(self) -> int:
        return len(self._object())

    def __repr__(self) -> str:  # never the content: it holds personal data
        if self._size is None:
            return "ClerkObject(from a change event)"
        return f"ClerkObject({self._size} bytes compressed)"


R = TypeVar("R")


def build_record(cls: type[R], item: Mapping[str, Any], **given: Any) -> R:
    """An instance of the dataclass `cls` from a stored item (attributes it does not declare ignored):
    absent metadata maps read as empty ones, `given` values are taken as they are."""
    values = {
        f.name: frozen_value(item.get(f.name)) if f.name != CLERK else None
        for f in fields(cls)  # type: ignore[arg-type]
    }
    if CLERK in values:  # boto3's Binary or bytes (a stored item), or a decoded object (a change event's)
        stored = item.get(CLERK)
        values[CLERK] = ClerkObject(
            stored if stored is None or isinstance(stored, Mapping) else bytes(stored)
        )
    for name, value in values.items():
        if name.endswith("_metadata") and value is None:
            values[name] = EMPTY
    return cls(**{**values, **given})


@dataclass(frozen=True)
class EmailAddress:
    """One of a user's e-mail addresses."""

    id: str | None
    email_address: str | None
    verification_status: str | None


@dataclass(frozen=True)
class Scim:
    """The directory (SCIM) that provisioned a user."""

    directory_id: str | None
    directory_enabled: bool | None
    external_id: str | None
    """The user's id in the directory."""


@dataclass(frozen=True)
class User:
    """A Clerk user (table `users`)."""

    id: str
    version: int
    """Clerk's `updated_at` of the stored version (ms)."""
    email: str | None
    """The primary e-mail address."""
    email_addresses: tuple[EmailAddress, ...]
    phone_number: str | None
    username: str | None
    first_name: str | None
    last_name: str | None
    image_url: str | None
    external_id: str | None
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    unsafe_metadata: Mapping[str, Any]
    banned: bool | None
    locked: bool | None
    deprovisioned: bool | None
    """True: restricted from signing in (by a directory, SCIM): revoke the user's access."""
    scim: Scim | None
    """The directory (SCIM) that provisioned the user; None for users it did not."""
    last_sign_in_at: int | None
    last_active_at: int | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> User:
        """The user of a live stored item."""
        addresses = tuple(build_record(EmailAddress, a) for a in item.get("email_addresses") or ())
        scim = item.get("scim")
        directory = build_record(Scim, scim) if isinstance(scim, Mapping) else None
        return build_record(cls, item, email_addresses=addresses, scim=directory)


@dataclass(frozen=True)
class Organization:
    """A Clerk organization (table `organizations`)."""

    id: str
    version: int
    name: str | None
    slug: str | None
    image_url: str | None
    created_by: str | None
    members_count: int | None
    max_allowed_memberships: int | None
    role_set_key: str | None
    """The role set the organization's members' roles come from."""
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Organization:
        """The organization of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class PublicUserData:
    """A member's user's restrictions, where Clerk sends them with the membership."""

    banned: bool | None
    deprovisioned: bool | None


@dataclass(frozen=True)
class Membership:
    """A user's membership of an organization (table `memberships`)."""

    organization_id: str
    user_id: str
    version: int
    id: str | None
    role: str | None
    """Clerk's role key, e.g. `org:admin`."""
    permissions: tuple[str, ...]
    public_metadata: Mapping[str, Any]
    public_user_data: PublicUserData | None
    """The member's user's `banned` / `deprovisioned`, when Clerk sent either."""
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Membership:
        """The membership of a live stored item."""
        user_data = item.get("public_user_data")
        flags = build_record(PublicUserData, user_data) if isinstance(user_data, Mapping) else None
        permissions = tuple(item.get("permissions") or ())
        return build_record(cls, item, permissions=permissions, public_user_data=flags)


@dataclass(frozen=True)
class OrganizationMembership:
    """One organization of a user, with the membership that makes them a member (`organizations_of`)."""

    membership: Membership
    organization: Organization | None
    """None while the organization's own webhook has not been stored yet."""

    @property
    def role(self) -> str | None:
        """The member's role key."""
        return self.membership.role

    @property
    def permissions(self) -> tuple[str, ...]:
        """The member's permissions."""
        return self.membership.permissions


@dataclass(frozen=True)
class Session:
    """A Clerk session (table `sessions`): no device, IP or location data is stored."""

    id: str
    version: int
    user_id: str | None
    client_id: str | None
    status: str | None
    """`active`, `ended`, `removed`, `revoked`, `pending`, … as Clerk's latest session event said."""
    last_active_organization_id: str | None
    last_active_at: int | None
    expire_at: int | None
    abandon_at: int | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Session:
        """The session of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class Invitation:
    """An invitation to an organization (table `invitations`): never its `url` (a sign-up ticket)."""

    id: str
    version: int
    organization_id: str | None
    email_address: str | None
    role: str | None
    """The role key the invitee gets, e.g. `org:member`."""
    role_name: str | None
    status: str | None
    """`pending`, `accepted` or `revoked`."""
    user_id: str | None
    """The user who accepted it."""
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    expires_at: int | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Invitation:
        """The invitation of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class Role:
    """A custom organization role (table `roles`) and the keys of the permissions it grants."""

    id: str
    version: int
    key: str | None
    """e.g. `org:editor`: what memberships and invitations name as their `role`."""
    name: str | None
    description: str | None
    permissions: tuple[str, ...]
    is_creator_eligible: bool | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Role:
        """The role of a live stored item."""
        return build_record(cls, item, permissions=tuple(item.get("permissions") or ()))


@dataclass(frozen=True)
class Permission:
    """An organization permission (table `permissions`)."""

    id: str
    version: int
    key: str | None
    """e.g. `org:docs:write`."""
    name: str | None
    description: str | None
    type: str | None
    """`system` or `user`."""
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Permission:
        """The permission of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class Domain:
    """A domain an organization enrolls users from (table `domains`)."""

    id: str
    version: int
    organization_id: str | None
    name: str | None
    enrollment_mode: str | None
    """`manual_invitation`, `automatic_invitation` or `automatic_suggestion`."""
    verification_status: str | None
    """`verified` or `unverified` (None: no verification started)."""
    verification_strategy: str | None
    total_pending_invitations: int | None
    total_pending_suggestions: int | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @property
    def verified(self) -> bool:
        """True once Clerk verified the domain (only then does it enroll anyone)."""
        return self.verification_status == "verified"

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Domain:
        """The domain of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class WaitlistEntry:
    """A waitlist entry (table `waitlist`)."""

    id: str
    version: int
    email_address: str | None
    status: str | None
    """`pending`, `invited`, `completed` or `rejected`."""
    is_locked: bool | None
    invitation_id: str | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> WaitlistEntry:
        """The waitlist entry of a live stored item."""
        return build_record(cls, item)
