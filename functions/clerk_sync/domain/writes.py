"""What applying an event asks for: at most one version-guarded write, and side-effect messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clerk_sync.domain.complete import compress
from clerk_sync.domain.effects import Effect
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.names import is_clerk_id
from clerk_sync.domain.tables import CLERK, TABLES, Table


class InvalidEventError(Exception):
    """A known event type whose data lacks what applying it needs (answer 400)."""


@dataclass(frozen=True)
class Parent:
    """A record that must not be tombstoned for a write to make its child live."""

    table: Table
    id: str


@dataclass(frozen=True)
class Write:
    """One version-guarded write: `item` replaces the stored record if the rule (rules.py) allows it."""

    table: Table
    key: dict[str, str]
    item: dict[str, Any]
    version: int
    tombstone: bool
    parents: tuple[Parent, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where an item attribute comes from in the event, when not `data.<its name>` (for error messages)."""
    fills_in: bool = False
    """True for backfill's writes: one carrying Clerk's complete object may replace a live record of its
    own version that has none (rules.newer). Webhooks never do, so a re-sent event (a new svix id, the
    same version) stays stale and queues no effect twice."""

    @property
    def svix_id(self) -> str:
        """The delivery (or backfill run) this write comes from."""
        return str(self.item["svix_id"])


@dataclass(frozen=True)
class Changes:
    """Everything one event asks for."""

    event_type: str
    entity_id: str | None
    write: Write | None = None
    effects: tuple[Effect, ...] = field(default=())

    @property
    def ignored(self) -> bool:
        """True when the event changes nothing here."""
        return self.write is None and not self.effects


def required_text(value: object, what: str) -> str:
    """`value` as a non-empty string, else InvalidEventError naming `what`."""
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"missing {what}")
    return value


def required_id(value: object, what: str) -> str:
    """`value` as a Clerk id (names.py), else InvalidEventError naming `what`, never the value."""
    if value is None or value == "":
        raise InvalidEventError(f"missing {what}")
    if not is_clerk_id(value):
        raise InvalidEventError(f"{what}: not a Clerk id")
    return str(value)


def optional_id(value: object, what: str) -> str | None:
    """`value` as a Clerk id, None when absent; InvalidEventError naming `what` when it is something
    else (it would be shown in the answer)."""
    return None if value is None or value == "" else required_id(value, what)


def shown_id(value: object) -> str | None:
    """`value` when it is a Clerk id, else None: the answer's `id` for an event this receiver only
    acknowledges (its data is not checked, so nothing else of it is shown)."""
    return value if isinstance(value, str) and is_clerk_id(value) else None


def pick(data: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields that are present and not null."""
    return {name: data[name] for name in names if data.get(name) is not None}


def updated_at(event: Event) -> int:
    """The version of a live record: Clerk's `updated_at` (milliseconds)."""
    version = event.field("updated_at")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidEventError("missing data.updated_at")
    return version


def complete_object(obj: dict[str, Any]) -> bytes:
    """Clerk's complete object as stored (complete.py); InvalidEventError when it is nested too deeply
    to encode (the parser takes more levels than this process can walk)."""
    try:
        return compress(obj)
    except RecursionError:
        raise InvalidEventError("data: nested too deeply to store") from None


def tombstone(
    event: Event, table: Table, key: dict[str, str], kept: Mapping[str, Any] | None = None
) -> Write:
    """The tombstone a deletion writes: key, deletion marks (and the `kept` fields), versioned by the
    event's timestamp."""
    item = {
        **(kept or {}),
        **key,
        "deleted": True,
        "deleted_at": event.occurred_at,
        "version": event.occurred_at,
        "svix_id": event.svix_id,
    }
    sources = {"version": "timestamp", "deleted_at": "timestamp"}
    return Write(table=table, key=key, item=item, version=event.occurred_at, tombstone=True, sources=sources)


def live(
    event: Event,
    table: Table,
    key: dict[str, str],
    fields: dict[str, Any],
    sources: Mapping[str, str] | None = None,
    version: int | None = None,
) -> Write:
    """A live record versioned by `updated_at` (or `version`, with `sources` saying where it comes from),
    guarded by the parents the table declares and the record names, holding Clerk's complete object
    (complete.py). Where in the event each attribute comes from (named when it cannot be stored) is the
    table's declaration, then `sources`."""
    declared = {f.name: f.source for f in TABLES[table].fields if f.source is not None}
    sources = {**declared, CLERK: "data", **(sources or {})}
    if version is None:
        version, sources = updated_at(event), {**sources, "version": "data.updated_at"}
    item = {**fields, **key, "version": version, "svix_id": event.svix_id, CLERK: complete_object(event.data)}
    parents = tuple(
        Parent(link.table, item[link.field]) for link in TABLES[table].parents if item.get(link.field)
    )
    return Write(
        table=table,
        key=key,
        item=item,
        version=version,
        tombstone=False,
        parents=parents,
        sources=sources,
    )
