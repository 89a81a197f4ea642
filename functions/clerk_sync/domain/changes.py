"""The change feed's events: what one applied write of a synced table means to an application.

A DynamoDB stream record holds a table's item before and after one write. `change_of` turns the two
into a `Change` (created, updated or deleted) or into nothing when no state of Clerk's object changed:
a retried write rewriting the same version, backfill filling in the complete object of a version already
stored, a tombstone removed by hand. Every other state a record holds — each (version, live or
tombstone) — is one change, with an `id` derived from the table, the key, the version and the state
alone, so the same state published twice (a retried batch) carries the same id and a consumer drops the
second. `detail` is the event's body; `entry_size` is EventBridge's measure of an entry, and `detail`
leaves out parts of the records (the complete objects first) until the entry fits.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from clerk_sync.domain.complete import decompress
from clerk_sync.domain.rules import is_tombstone
from clerk_sync.domain.tables import CLERK, TABLES, Table

SOURCE = "clerk-sync"
"""Every event's `source`."""
MAX_ENTRY_BYTES = 256 * 1024
"""EventBridge's limit on one PutEvents entry (and on the entries of one call)."""
TIME_BYTES = 14
"""What EventBridge counts for an entry's `Time` when it is given."""

NOT_IN_RECORDS = frozenset({"svix_id", "deleted", "deleted_at"})
"""Bookkeeping the event carries elsewhere (`written_by`, `change`) or not at all: the records are the
read library's."""
NOT_CHANGES = frozenset({"version"})
"""Attributes every change changes, left out of `changed`."""
_IDS = uuid.UUID("6f1d8a52-63c4-4a57-9d8e-2f0c4b6a1e37")
"""The namespace of the events' ids (UUID version 5)."""


class ChangeKind(StrEnum):
    """What happened to the record."""

    CREATED = "created"  # first stored live, or live again after a tombstone (a re-join)
    UPDATED = "updated"  # a newer live version
    DELETED = "deleted"  # a tombstone stored (or the item removed)


class ChangeDetail(StrEnum):
    """What an event carries (the template's ChangeDetail parameter)."""

    FULL = "full"  # the records before and after
    KEYS = "keys"  # no record contents: key, versions, kind and the names of the changed attributes


class State(StrEnum):
    """What the table holds for a key."""

    LIVE = "live"
    TOMBSTONE = "tombstone"
    REMOVED = "removed"  # the item itself deleted (by hand: clerk-sync never deletes synced items)


@dataclass(frozen=True)
class Change:
    """One state of a record, as the change feed publishes it."""

    table: Table
    kind: ChangeKind
    key: Mapping[str, Any]
    version: int
    previous_version: int | None
    state: State
    written_by: str | None
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    changed: tuple[str, ...]

    @property
    def entity(self) -> str:
        """Clerk's name of the object."""
        return TABLES[self.table].entity

    @property
    def detail_type(self) -> str:
        """The event's `detail-type`: `<entity>.<change>`."""
        return f"{self.entity}.{self.kind.value}"

    @property
    def id(self) -> str:
        """Stable per (table, key, version, state): the same write published twice has the same id."""
        key = json.dumps(self.key, sort_keys=True, separators=(",", ":"))
        return str(uuid.uuid5(_IDS, f"{self.table.value}\x1f{key}\x1f{self.version}\x1f{self.state.value}"))


class UnreadableImageError(ValueError):
    """A stream image without the key or the version every synced record has."""


def change_of(table: Table, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Change | None:
    """The change one write made (images as plain values: numbers as Decimal or int, the complete
    object as bytes), or None when it changed no state a reader sees."""
    old_state, new_state = _state(old), _state(new)
    if new is None and old_state is not State.LIVE:  # a tombstone removed: nothing a reader saw changes
        return None
    if old is not None and new is not None and old_state is new_state and _version(old) == _version(new):
        return None  # the same version again: a retry, a filled-in complete object
    if new_state is State.LIVE:
        kind = ChangeKind.UPDATED if old_state is State.LIVE else ChangeKind.CREATED
    else:
        kind = ChangeKind.DELETED
    current = new if new is not None else old
    assert current is not None  # one of the two images is there (REMOVE: old)
    before = record_of(old) if old is not None and old_state is State.LIVE else None
    after = record_of(new) if new is not None and new_state is State.LIVE else None
    return Change(
        table=table,
        kind=kind,
        key=_key(table, current),
        version=_version(current),
        previous_version=_version(old) if old is not None and new is not None else None,
        state=State.REMOVED if new is None else new_state,
        written_by=str(new["svix_id"]) if new is not None and "svix_id" in new else None,
        new=after,
        old=before,
        changed=_changed(before, after),
    )


def record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """A live item in the read library's shape, as JSON values: bookkeeping out, numbers as int or
    float, sets as sorted lists, the complete object decompressed."""
    record = {name: _plain(value) for name, value in item.items() if name not in NOT_IN_RECORDS}
    stored = item.get(CLERK)
    if stored is not None:
        try:
            record[CLERK] = decompress(bytes(stored))
        except (zlib.error, ValueError):  # unreadable: left out, as the read library shows it empty
            del record[CLERK]
    return record


def detail(change: Change, contents: ChangeDetail, limit: int = MAX_ENTRY_BYTES) -> dict[str, Any]:
    """The event's `detail`, leaving out `old.clerk`, `new.clerk`, `old`, then `new` (listed in
    `omitted`) until the entry it makes fits in `limit` bytes."""
    body: dict[str, Any] = {
        "id": change.id,
        "entity": change.entity,
        "change": change.kind.value,
        "table": change.table.value,
        "key": dict(change.key),
        "version": change.version,
        "previous_version": change.previous_version,
        "written_by": change.written_by,
        "new": dict(change.new) if change.new is not None else None,
        "old": dict(change.old) if change.old is not None else None,
        "changed": list(change.changed),
        "omitted": [],
    }
    if contents is ChangeDetail.KEYS:
        _leave_out(body, ["new", "old"])
    for part in ("old.clerk", "new.clerk", "old", "new"):
        if entry_size(change.detail_type, body) <= limit:
            break
        _leave_out(body, [part])
    return body


def entry_size(detail_type: str, body: Mapping[str, Any]) -> int:
    """EventBridge's size of the entry the detail `body` makes."""
    return entry_bytes(detail_type, encode(body))


def entry_bytes(detail_type: str, detail_text: str) -> int:
    """EventBridge's size of an entry: its source, detail-type, detail and a time."""
    return TIME_BYTES + len(SOURCE.encode()) + len(detail_type.encode()) + len(detail_text.encode())


def encode(body: Mapping[str, Any]) -> str:
    """The detail as the entry carries it (compact JSON; what `entry_size` measured)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _leave_out(body: dict[str, Any], parts: list[str]) -> None:
    for part in parts:
        record, _, inner = part.partition(".")
        value = body.get(record)
        if value is None or (inner and inner not in value):
            continue
        if inner:
            body[record] = {name: v for name, v in value.items() if name != inner}
        else:
            body[record] = None
        body["omitted"].append(part)


def _state(item: Mapping[str, Any] | None) -> State:
    if item is None:
        return State.REMOVED
    return State.TOMBSTONE if is_tombstone(item) else State.LIVE


def _version(item: Mapping[str, Any]) -> int:
    value = item.get("version")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UnreadableImageError("a stream image without a version")
    return int(value)


def _key(table: Table, item: Mapping[str, Any]) -> dict[str, str]:
    key = {name: item.get(name) for name in TABLES[table].key_names}
    if not all(isinstance(value, str) for value in key.values()):
        raise UnreadableImageError(f"a stream image of {table.value} without its key")
    return key  # type: ignore[return-value]


def _changed(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[str, ...]:
    old, new = before or {}, after or {}
    names = (set(old) | set(new)) - NOT_CHANGES
    return tuple(sorted(name for name in names if old.get(name) != new.get(name)))


def _plain(value: Any) -> Any:
    """A stored value as a JSON value."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(inner) for key, inner in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_plain(inner) for inner in value)
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, bytes | bytearray):  # no binary attribute but the complete object is declared
        return None
    return value
