"""The change feed as an application receives it: `parse` turns one event into a typed `Change`.

    from clerk_sync.read import Membership, NotAChangeError, parse

    def handler(event, context):               # a function on an EventBridge rule of the change bus
        change = parse(event)                  # or an SQS record wrapping the event, or its JSON text
        if change.change == "created" and isinstance(change.new, Membership):
            ...                                # change.new: the record ClerkData would return

Each event is one state of one record (domain/changes.py builds them): `id` is the same whenever that
state is published again (de-duplicate on it), `version` orders the states of a key (ignore one older
than a state already handled). `new` and `old` are the records before and after, of the table's record
class (`RECORDS`: those `ClerkData` returns), or None: a creation has no `old`, a deletion no `new`,
and an event leaves out what `omitted` names (ChangeDetail "keys", or a record too large for
EventBridge: then read the current state with ClerkData). Attributes a newer clerk-sync stores are
ignored here; every field Clerk sent stays readable through `new.clerk`.

The event is checked against the declaration (domain/tables.py) before anything is built from it;
anything else raises `NotAChangeError`, whose message names what is wrong, never a value it was given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, cast, get_args

from clerk_sync.domain.tables import BOOKKEEPING, CLERK, TABLES, Field, FieldType, Table, TableSpec
from clerk_sync.read.billing import SubscriptionItem
from clerk_sync.read.billing_records import PaymentAttempt, Plan, Subscription
from clerk_sync.read.records import (
    Domain,
    Invitation,
    Membership,
    Organization,
    Permission,
    Role,
    Session,
    User,
    WaitlistEntry,
)

SOURCE: Final = "clerk-sync"
"""Every change event's `source`."""
ChangeType: TypeAlias = Literal["created", "updated", "deleted"]
"""What happened to the record: first stored live (or live again after a deletion), a newer live
version, deleted."""
CHANGE_TYPES: tuple[ChangeType, ...] = get_args(ChangeType)
OMITTABLE = frozenset({"new", "old", "new.clerk", "old.clerk"})
"""What an event's `omitted` may name."""

Record: TypeAlias = (
    User
    | Organization
    | Membership
    | Session
    | Invitation
    | Role
    | Permission
    | Domain
    | WaitlistEntry
    | Subscription
    | SubscriptionItem
    | PaymentAttempt
    | Plan
)
"""A record of any synced table."""
RECORDS: Mapping[Table, type[Record]] = MappingProxyType(
    {
        Table.USERS: User,
        Table.ORGANIZATIONS: Organization,
        Table.MEMBERSHIPS: Membership,
        Table.SESSIONS: Session,
        Table.INVITATIONS: Invitation,
        Table.ROLES: Role,
        Table.PERMISSIONS: Permission,
        Table.DOMAINS: Domain,
        Table.WAITLIST: WaitlistEntry,
        Table.SUBSCRIPTIONS: Subscription,
        Table.SUBSCRIPTION_ITEMS: SubscriptionItem,
        Table.PAYMENT_ATTEMPTS: PaymentAttempt,
        Table.PLANS: Plan,
    }
)
"""The record class of each synced table: what `ClerkData` returns for its items and `parse` for its
events' `new` and `old`."""

_BY_ENTITY: Mapping[str, TableSpec] = {spec.entity: spec for spec in TABLES.values()}
_TIMES = tuple(f for f in BOOKKEEPING if f.name in ("created_at", "updated_at", CLERK))
"""The attributes every live record may carry besides its declared fields (the version aside)."""
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WORDS = {
    FieldType.TEXT: "a string",
    FieldType.NUMBER: "a number",
    FieldType.FLAG: "a boolean",
    FieldType.MAP: "an object",
    FieldType.TEXTS: "a list of strings",
    FieldType.RECORD: "an object",
    FieldType.RECORDS: "a list of objects",
    FieldType.COMPRESSED: "an object (Clerk's complete object)",
}


class NotAChangeError(ValueError):
    """What `parse` was given is not a clerk-sync change event (or not one this version reads). The
    message names the part that is wrong, never a value from the input."""


@dataclass(frozen=True)
class Change:
    """One change of one synced record, as the change feed published it."""

    id: str
    """Stable per (table, key, version, state): the same change published twice has the same id."""
    entity: str
    """Clerk's name of the object: `user`, `organizationMembership`, … (domain/tables.py)."""
    change: ChangeType
    table: Table
    key: Mapping[str, str]
    """The record's key attributes (`{"id": …}`, or a membership's organization_id and user_id)."""
    version: int
    """The version this change stored (Clerk's time of it, ms): order changes of one key by it."""
    previous_version: int | None
    """The version stored before it (None: nothing was)."""
    written_by: str | None
    """The delivery (svix id) or backfill run that wrote it (None: the record was removed by hand)."""
    new: Record | None
    """The record after the change (None: a deletion, or left out: see `omitted`)."""
    old: Record | None
    """The record before the change (None: a creation, or left out: see `omitted`)."""
    changed: tuple[str, ...]
    """The attributes whose values differ between `old` and `new` (`version` aside), sorted."""
    omitted: tuple[str, ...]
    """What the event left out: `new`, `old` (ChangeDetail "keys", or too large for EventBridge),
    `new.clerk`, `old.clerk` (the complete object, too large): read the record with ClerkData then."""
    time: datetime | None
    """The event's time (the write's), when the event carries one."""

    @property
    def detail_type(self) -> str:
        """The event's `detail-type`: `<entity>.<change>`, what a rule's pattern matches."""
        return f"{self.entity}.{self.change}"


def parse(event: Mapping[str, Any] | str | bytes) -> Change:
    """The change an event carries: the EventBridge event as a rule's target receives it (a dict with
    `source`, `detail-type`, `detail`), an SQS record whose `body` is that event (a queue as the rule's
    target), or the event's JSON text (such a record's body). NotAChangeError for anything else."""
    found = _event_of(event)
    if found.get("source") != SOURCE:
        raise NotAChangeError("not a clerk-sync event: its source is not clerk-sync")
    detail_type = found.get("detail-type")
    if not isinstance(detail_type, str):
        raise NotAChangeError("detail-type: missing")
    entity, _, change = detail_type.rpartition(".")
    spec = _BY_ENTITY.get(entity)
    if spec is None or change not in CHANGE_TYPES:
        raise NotAChangeError("detail-type: not <entity>.<change> of an entity this version reads")
    detail = found.get("detail")
    if not isinstance(detail, Mapping):
        raise NotAChangeError("detail: not an object")
    return _change(spec, change, detail, _time(found.get("time")))


def _event_of(given: object) -> Mapping[str, Any]:
    """The EventBridge event in what `parse` was given."""
    if isinstance(given, str | bytes | bytearray):
        return _json_object(given, "the event")
    if not isinstance(given, Mapping):
        raise NotAChangeError("not an event: neither an object nor JSON text")
    if "detail" in given or "detail-type" in given or "source" in given:
        return given
    if "body" in given:  # an SQS record: the rule's target was a queue
        body = given["body"]
        if not isinstance(body, str):
            raise NotAChangeError("an SQS record whose body is not text")
        return _json_object(body, "the SQS record's body")
    if "Records" in given:
        raise NotAChangeError("a batch of records (Records): parse each record of it")
    raise NotAChangeError("not an event: no source, detail-type or detail")


def _json_object(text: str | bytes | bytearray, what: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise NotAChangeError(f"{what}: not JSON") from None
    if not isinstance(value, dict):
        raise NotAChangeError(f"{what}: not a JSON object")
    return value


def _no_constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise NotAChangeError("time: not an ISO 8601 time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise NotAChangeError("time: not an ISO 8601 time") from None


def _change(spec: TableSpec, change: ChangeType, detail: Mapping[str, Any], time: datetime | None) -> Change:
    if detail.get("entity") != spec.entity or detail.get("change") != change:
        raise NotAChangeError("detail: its entity and change are not the detail-type's")
    if detail.get("table") != spec.table.value:
        raise NotAChangeError(f"detail.table: not {spec.table.value}, the table of {spec.entity}")
    event_id = detail.get("id")
    if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
        raise NotAChangeError("detail.id: not a UUID")
    key = _key(spec, detail.get("key"))
    version = _integer(detail.get("version"), "detail.version")
    previous = detail.get("previous_version")
    previous_version = None if previous is None else _integer(previous, "detail.previous_version")
    written_by = detail.get("written_by")
    if written_by is not None and not isinstance(written_by, str):
        raise NotAChangeError("detail.written_by: not a string")
    changed = _texts(detail.get("changed"), "detail.changed")
    omitted = _texts(detail.get("omitted"), "detail.omitted")
    if not OMITTABLE.issuperset(omitted):
        raise NotAChangeError(f"detail.omitted: names something but {', '.join(sorted(OMITTABLE))}")
    new = _record(spec, key, detail.get("new"), "new")
    old = _record(spec, key, detail.get("old"), "old")
    if change == "created" and old is not None:
        raise NotAChangeError("detail.old: a creation has no record before it")
    if change == "deleted" and new is not None:
        raise NotAChangeError("detail.new: a deletion has no record after it")
    if change != "deleted" and new is None and "new" not in omitted:
        raise NotAChangeError("detail.new: missing, and not listed in omitted")
    if change == "updated" and old is None and "old" not in omitted:
        raise NotAChangeError("detail.old: missing, and not listed in omitted")
    return Change(
        id=event_id,
        entity=spec.entity,
        change=change,
        table=spec.table,
        key=MappingProxyType(key),
        version=version,
        previous_version=previous_version,
        written_by=written_by,
        new=new,
        old=old,
        changed=changed,
        omitted=omitted,
        time=time,
    )


def _key(spec: TableSpec, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != set(spec.key_names):
        raise NotAChangeError(f"detail.key: not {' and '.join(spec.key_names)} alone")
    if not all(isinstance(value[name], str) and value[name] for name in spec.key_names):
        raise NotAChangeError("detail.key: not non-empty strings")
    return {name: value[name] for name in spec.key_names}


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAChangeError(f"{what}: not an integer")
    return value


def _texts(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(inner, str) for inner in value):
        raise NotAChangeError(f"{what}: not a list of strings")
    return tuple(value)


def _record(spec: TableSpec, key: Mapping[str, str], value: object, part: str) -> Record | None:
    """The record a detail's `new` or `old` holds, checked against the table's declaration."""
    if value is None:
        return None
    where = f"detail.{part}"
    if not isinstance(value, Mapping):
        raise NotAChangeError(f"{where}: not an object")
    if any(value.get(name) != key[name] for name in spec.key_names):
        raise NotAChangeError(f"{where}: not the record of detail.key")
    _integer(value.get("version"), f"{where}.version")
    _check_fields(value, (*_TIMES, *spec.fields), where)
    return RECORDS[spec.table].from_item(value)


def _check_fields(value: Mapping[str, Any], declared: tuple[Field, ...], where: str) -> None:
    for field in declared:
        _check(value.get(field.name), field.type, field.fields, f"{where}.{field.name}")


def _check(value: object, kind: FieldType, inner: tuple[Field, ...], where: str) -> None:
    """NotAChangeError unless `value` is null or of the declared type (a map's declared fields too)."""
    if value is None:
        return
    if kind is FieldType.TEXT:
        ok = isinstance(value, str)
    elif kind is FieldType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is FieldType.FLAG:
        ok = isinstance(value, bool)
    elif kind is FieldType.TEXTS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind is FieldType.RECORDS:
        ok = isinstance(value, list) and all(isinstance(v, Mapping) for v in value)
    else:  # MAP, RECORD, COMPRESSED
        ok = isinstance(value, Mapping)
    if not ok:
        raise NotAChangeError(f"{where}: not {_WORDS[kind]}")
    if kind is FieldType.RECORD:
        _check_fields(cast(Mapping[str, Any], value), inner, where)
    elif kind is FieldType.RECORDS:
        for position, entry in enumerate(cast(list[Mapping[str, Any]], value)):
            _check_fields(entry, inner, f"{where}[{position}]")
