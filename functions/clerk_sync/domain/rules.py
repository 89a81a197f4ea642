"""The ordering rule, stated once: when a write may replace the stored record.

A write replaces the stored record when the record is absent, older, or this very delivery's version
(a retry completing). A backfill write (`Write.fills_in`) carrying Clerk's complete object also
replaces a live record (never a tombstone) of its own version that has none (written while complete
objects were off, or before they existed): the same version is the same state of the Clerk object, so
the rewrite only fills the complete object in, and once it is there the rule no longer holds (a
backfill fills records in once, then finds them unchanged). Webhooks never fill in: an event re-sent
under a new svix id stays stale and queues no effect twice. In a table with final tombstones (users,
organizations) a tombstone replaces any live version and only the first deletion counts, and no live
write replaces a tombstone. A write whose parents (tables.py) are tombstoned is refused as well.

The rule is a small expression (`Rule`), so that both readings come from this one statement: `holds`
evaluates it against a stored item in Python (backfill's dry run), and the DynamoDB adapter turns it
into the condition of the conditional write (adapters/dynamodb/conditions.py). A property test runs
random stored/incoming pairs through both, on both engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clerk_sync.domain.tables import CLERK, TABLES

if TYPE_CHECKING:  # the worker's clean-ups need only `cascade_version`: no writes.py on its cold start
    from clerk_sync.domain.writes import Write


@dataclass(frozen=True)
class Absent:
    """The stored record has no `attribute` (or no record is stored)."""

    attribute: str


@dataclass(frozen=True)
class Below:
    """The stored `attribute` is a number below `value`."""

    attribute: str
    value: int


@dataclass(frozen=True)
class Equals:
    """The stored `attribute` equals `value`."""

    attribute: str
    value: int | str


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Rule, ...]


@dataclass(frozen=True)
class AllOf:
    """Every part holds."""

    parts: tuple[Rule, ...]


Rule = Absent | Below | Equals | AnyOf | AllOf

LIVE: Rule = Absent("deleted")
"""A live record: no tombstone mark. What a parent must be for a write of its child to apply, and
what readers, backfill and the clean-ups keep (`is_tombstone`, and DynamoDB's form of it)."""


def is_tombstone(item: Mapping[str, Any]) -> bool:
    """True for a stored deletion's tombstone, the item's attributes read as Python values."""
    return not holds(LIVE, item)


def newer(write: Write) -> Rule:
    """The stored record is absent, older than `write`, or `write`'s own delivery (a retry); or, for a
    backfill write carrying Clerk's complete object, the same version without one (it is filled in)."""
    same_version = Equals("version", write.version)
    filled = write.fills_in and CLERK in write.item and not write.tombstone
    # a live record only: a tombstone has no complete object and is never replaced at its own version
    fill_in = (AllOf((same_version, Absent(CLERK), Absent("deleted"))),) if filled else ()
    return AnyOf(
        (
            Absent("version"),
            Below("version", write.version),
            AllOf((same_version, Equals("svix_id", write.svix_id))),
            *fill_in,
        )
    )


def may_replace(write: Write) -> Rule:
    """The condition under which `write` may replace the stored record."""
    if not TABLES[write.table].final_tombstones:
        return newer(write)
    if write.tombstone:  # deletion is final: it replaces any live version, and only the first one counts
        return AnyOf((Absent("deleted"), Equals("svix_id", write.svix_id)))
    return AllOf((Absent("deleted"), newer(write)))


def holds(rule: Rule, stored: Mapping[str, Any] | None) -> bool:
    """Whether `rule` holds for the stored item (plain values; None: nothing stored)."""
    item = stored or {}
    match rule:
        case Absent(attribute):
            return item.get(attribute) is None
        case Below(attribute, value):
            current = item.get(attribute)
            return isinstance(current, int | float) and not isinstance(current, bool) and current < value
        case Equals(attribute, value):
            return attribute in item and item[attribute] == value
        case AnyOf(parts):
            return any(holds(part, stored) for part in parts)
        case AllOf(parts):
            return all(holds(part, stored) for part in parts)
    raise TypeError(f"not a rule: {rule!r}")


def cascade_version(stored_version: int, deleted_at: int) -> int:
    """The version of the tombstone a clean-up writes over a child of a deleted parent.

    Clean-ups write unconditionally (BatchWriteItem has no conditions), which the rule allows: the
    parent's tombstone is stored first and is final, and `LIVE` then refuses every live write of
    the child, so no live version can be overwritten. A tombstone the child's own deletion wrote may be:
    it is replaced by the clean-up's (still a tombstone, its `deleted_at` the parent's), which loses
    nothing a reader sees. The version never goes down, so a later stale write of the child is refused
    by `newer` too.
    """
    return max(stored_version, deleted_at)
