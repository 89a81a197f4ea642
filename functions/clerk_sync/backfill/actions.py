"""What backfill would change, decided from Clerk's objects and the stored records (no I/O).

An API object becomes the write its webhook would make (the kind's writer, listings.py:
`event_types.changes_of` on a synthesized event, side effects dropped: no welcome e-mail for a
backfilled user), under one `svix_id` per run (`backfill:<uuid>`). Comparing that write with the
stored record classifies it by the rule `Store.apply`'s condition is made from (domain/rules.py), so
that a dry run can tell, and a real run only sends the writes that change something.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from clerk_sync.adapters.clerk.listings import LISTINGS, Key
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.rules import holds, may_replace
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.domain.writes import Write
from clerk_sync.domain.writes import tombstone as tombstone_write

RECONCILE_EVENT = "backfill.reconcile"  # the type of the event a reconcile tombstone is planned from


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
    """What classifying a write needs of a stored record."""

    version: int
    deleted: bool
    content: Mapping[str, Any] | None = None
    """The kind's `content` attributes that the record has (None: the kind compares none)."""
    complete: bool = False
    """The record keeps Clerk's complete object (a live record without one is filled in: rules.newer)."""


@dataclass(frozen=True)
class Decision:
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
    return tuple(key[name] for name in TABLES[table].key_names)


def key_dict(table: Table, key: Key) -> dict[str, str]:
    """The DynamoDB key of a hashable key."""
    return dict(zip(TABLES[table].key_names, key, strict=True))


def object_key(table: Table, obj: Mapping[str, Any]) -> Key | None:
    """The stored key of a Clerk API object, or None when the object lacks it."""
    return LISTINGS[table].key(obj)


def synthesize(table: Table, obj: dict[str, Any], run_id: str, now_ms: int) -> Write:
    """The write the kind's webhook with this object would make; InvalidEventError if it can't. It fills
    in a record of its version stored without Clerk's complete object (`Write.fills_in`)."""
    return replace(LISTINGS[table].write(obj, run_id, now_ms), fills_in=True)


def tombstone(table: Table, key: Key, run_id: str, now_ms: int) -> Write:
    """The tombstone a lost deletion would have written, versioned `now_ms`: the one every `*.deleted`
    event writes (without what only the webhook carries, such as a user's external_id)."""
    event = Event(svix_id=run_id, type=RECONCILE_EVENT, data={}, occurred_at=now_ms)
    return tombstone_write(event, table, key_dict(table, key))


def classify(write: Write, stored: Stored | None, parent_tombstoned: bool = False) -> Action:
    """What `Store.apply(write)` would do to `stored`: the rule (`rules.may_replace`) read in Python.
    `write` as the store makes it (`Store.as_stored`): with complete objects off it carries none, so a
    record without one is not filled in."""
    if write.tombstone and stored is None:
        return Action.STALE  # nothing to delete
    if parent_tombstoned and not write.tombstone:
        return Action.STALE
    if _same_content(write, stored):
        return Action.UNCHANGED
    item = (
        None
        if stored is None
        else {"version": stored.version, "deleted": stored.deleted or None, CLERK: stored.complete or None}
    )
    if not holds(may_replace(write), item):
        same = stored is not None and stored.version == write.version and not stored.deleted
        return Action.UNCHANGED if same and not write.tombstone else Action.STALE
    if stored is None:
        return Action.CREATE
    return Action.TOMBSTONE if write.tombstone else Action.UPDATE


def _same_content(write: Write, stored: Stored | None) -> bool:
    """A live write holding exactly the compared attributes of a live stored record (Listing.content)."""
    if stored is None or stored.content is None or stored.deleted or write.tombstone:
        return False
    compared = LISTINGS[write.table].content
    return stored.content == {name: write.item[name] for name in compared if name in write.item}


def parent_keys(write: Write) -> list[tuple[Table, Key]]:
    """The records that must not be tombstoned for `write` to apply."""
    return [(parent.table, (parent.id,)) for parent in write.parents]


def missing(stored_live: Iterable[Key], seen: set[Key]) -> list[Key]:
    """Stored live records that a complete read of Clerk did not return, in key order."""
    return sorted(key for key in stored_live if key not in seen)
