"""What backfill would change, decided from Clerk's objects and the stored records (no I/O).

An API object becomes the write its `*.updated` webhook would make (`planner.plan`, side effects
dropped: no welcome e-mail for a backfilled user), under one `svix_id` per run (`backfill:<uuid>`).
Comparing that write with the stored record classifies it by the rule `Store.apply`'s condition is
made from (domain/rules.py), so that a dry run can tell, and a real run only sends the writes that
change something.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.planner import plan
from clerk_sync.domain.plans import InvalidEventError, Write
from clerk_sync.domain.rules import holds, may_replace
from clerk_sync.domain.tables import TABLES, Table

Key = tuple[str, ...]  # (id,) for users and organizations; (organization_id, user_id) for memberships

KINDS = (Table.USERS, Table.ORGANIZATIONS, Table.MEMBERSHIPS)
UPSERT_EVENT = {
    Table.USERS: "user.updated",
    Table.ORGANIZATIONS: "organization.updated",
    Table.MEMBERSHIPS: "organizationMembership.updated",
}
DELETE_EVENT = {
    Table.USERS: "user.deleted",
    Table.ORGANIZATIONS: "organization.deleted",
    Table.MEMBERSHIPS: "organizationMembership.deleted",
}
KEY_NAMES: dict[Table, tuple[str, ...]] = {table: TABLES[table].key_names for table in KINDS}


class Action(StrEnum):
    """What a planned write does to the stored record."""

    CREATE = "create"  # nothing stored yet
    UPDATE = "update"  # the stored version is older
    UNCHANGED = "unchanged"  # the stored version is this one
    STALE = "stale"  # the stored record is newer, a final tombstone, or a parent is tombstoned
    TOMBSTONE = "tombstone"  # reconcile: stored here, gone from Clerk

    @property
    def writes(self) -> bool:
        """True when the write must be sent."""
        return self in (Action.CREATE, Action.UPDATE, Action.TOMBSTONE)


@dataclass(frozen=True)
class Stored:
    """What planning needs of a stored record."""

    version: int
    deleted: bool


@dataclass(frozen=True)
class Planned:
    """A write and what it does."""

    write: Write
    action: Action

    @property
    def key(self) -> Key:
        return key_of(self.write.table, self.write.key)


def new_run_id() -> str:
    """The `svix_id` every write of one run carries (unique, so a rerun never counts as a retry)."""
    return f"backfill:{uuid.uuid4()}"


def key_of(table: Table, key: Mapping[str, str]) -> Key:
    """A hashable key in the table's key order."""
    return tuple(key[name] for name in KEY_NAMES[table])


def key_dict(table: Table, key: Key) -> dict[str, str]:
    """The DynamoDB key of a hashable key."""
    return dict(zip(KEY_NAMES[table], key, strict=True))


def object_key(table: Table, obj: Mapping[str, Any]) -> Key | None:
    """The stored key of a Clerk API object, or None when the object lacks it."""
    if table is Table.MEMBERSHIPS:
        organization, user_data = obj.get("organization"), obj.get("public_user_data")
        org_id = organization.get("id") if isinstance(organization, dict) else None
        user_id = user_data.get("user_id") if isinstance(user_data, dict) else None
        if isinstance(org_id, str) and org_id and isinstance(user_id, str) and user_id:
            return (org_id, user_id)
        return None
    object_id = obj.get("id")
    return (object_id,) if isinstance(object_id, str) and object_id else None


def synthesize(table: Table, obj: dict[str, Any], run_id: str, now_ms: int) -> Write:
    """The write an `*.updated` webhook with this object would make; InvalidEventError if it can't."""
    write = plan(Event(svix_id=run_id, type=UPSERT_EVENT[table], data=obj, occurred_at=now_ms)).write
    if write is None:  # every upsert planner writes; a planner that stops doing so is a bug here
        raise InvalidEventError(f"{UPSERT_EVENT[table]} planned no write")
    return write


def tombstone(table: Table, key: Key, run_id: str, now_ms: int) -> Write:
    """The tombstone a lost `*.deleted` webhook would have written, versioned `now_ms`."""
    if table is Table.MEMBERSHIPS:
        data: dict[str, Any] = {"organization": {"id": key[0]}, "public_user_data": {"user_id": key[1]}}
    else:
        data = {"id": key[0]}
    write = plan(Event(svix_id=run_id, type=DELETE_EVENT[table], data=data, occurred_at=now_ms)).write
    if write is None:
        raise InvalidEventError(f"{DELETE_EVENT[table]} planned no write")
    return write


def classify(write: Write, stored: Stored | None, parent_tombstoned: bool = False) -> Action:
    """What `Store.apply(write)` would do to `stored`: the rule (`rules.may_replace`) read in Python."""
    if write.tombstone and stored is None:
        return Action.STALE  # nothing to delete
    if parent_tombstoned and not write.tombstone:
        return Action.STALE
    item = None if stored is None else {"version": stored.version, "deleted": stored.deleted or None}
    if not holds(may_replace(write), item):
        same = stored is not None and stored.version == write.version and not stored.deleted
        return Action.UNCHANGED if same and not write.tombstone else Action.STALE
    if stored is None:
        return Action.CREATE
    return Action.TOMBSTONE if write.tombstone else Action.UPDATE


def parent_keys(write: Write) -> list[tuple[Table, Key]]:
    """The records that must not be tombstoned for `write` to apply."""
    return [(parent.table, (parent.id,)) for parent in write.parents]


def missing(stored_live: Iterable[Key], seen: set[Key]) -> list[Key]:
    """Stored live records that a complete read of Clerk did not return, in key order."""
    return sorted(key for key in stored_live if key not in seen)
