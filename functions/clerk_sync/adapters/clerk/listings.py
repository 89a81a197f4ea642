"""The listings backfill reads, one per kind (table), declared once: each one's list call, the write an
object becomes, its key, and how reconcile confirms that Clerk no longer has a record.

Run order is registry order: parents before children (a membership's user and organization, an
invitation's or domain's organization, an item's payer), plans before the subscription items that
name them. The SDK is only named in type hints here: its calls run when a list or look-up is made.

Lists (all `{data, total_count}` with limit/offset, but users: a bare array) are asked oldest first
(`+created_at`) where they take an order. `billing.list_plans` and `billing.list_subscription_items` take
none and answer newest first: objects created during the walk then land before its position and shift
what follows to later offsets, which the overlapping pages re-read (deduplicated); deletions shift
objects back, which the anchor check detects as for every list (paging.py). Objects created during
such a walk are not read by it (webhooks carry them, the next run reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from clerk_sync.domain.entities.plans import PLAN_FIELDS, plan_write
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK, Table
from clerk_sync.domain.writes import InvalidEventError, Write

if TYPE_CHECKING:
    from clerk_backend_api import Clerk

Key = tuple[str, ...]  # a record's key values in the table's key order
ORDER = "+created_at"  # ascending: objects created during a walk land after it (see paging)

Lister = Callable[["Clerk", int, int], object]
"""One page (client, limit, offset): the SDK call (its validated answer is dropped: the raw JSON is used)."""
Getter = Callable[["Clerk", Key, Mapping[str, str]], object]
"""One object (client, key, the stored `lookup_fields`); the SDK raises a 404 error when Clerk has none."""
Writer = Callable[[dict[str, Any], str, int], Write]
"""The write an API object becomes (object, run id, the run's clock in ms); InvalidEventError if none."""
FilteredLister = Callable[["Clerk", str, int, int], object]
"""One page of a filtered list (client, the stored attribute's value, limit, offset)."""


@dataclass(frozen=True)
class Filtered:
    """A list that holds every object of a kind whose stored `field` has a given value (absence
    FILTERED): a record is gone when the complete list for its value lacks its id."""

    field: str
    list_page: FilteredLister
    gone_on_404: bool = False
    """True: a 404 answers that the value's parent (a domain's organization) and so its objects are
    gone; else a 404 is a wrong API URL."""


class Absence(StrEnum):
    """How reconcile confirms that a stored record missing from a complete list is gone from Clerk."""

    LOOKUP = "lookup"  # a look-up of the record answers 404
    MEMBERS = "members"  # the organization's memberships, filtered by user (404: the organization is gone)
    FILTERED = "filtered"  # a complete list filtered by a stored attribute lacks the id (`Listing.filtered`)
    LISTED = "listed"  # a complete list is enough: nothing but backfill writes the table
    NONE = "none"  # not reconciled (`Listing.not_reconciled` says why)


@dataclass(frozen=True)
class Listing:
    """What backfill needs to know of one kind: how Clerk lists it and what its objects become."""

    table: Table
    list_page: Lister
    write: Writer
    absence: Absence
    key: Callable[[Mapping[str, Any]], Key | None] = lambda obj: _string_key(obj.get("id"))
    """The stored key of an API object (None when the object lacks it)."""
    lookup: Getter | None = None
    lookup_fields: tuple[str, ...] = ()
    """Stored attributes the look-up needs besides the key (an invitation's organization, the
    `filtered` list's field)."""
    filtered: Filtered | None = None
    not_reconciled: str = ""
    """Why reconcile leaves this kind alone (absence NONE), for the summary."""
    array: bool = False
    """True: the list answers a bare array (users), else `{data, total_count}`."""
    count: Callable[[Clerk], int] | None = None
    """The list's size in one cheap request, for progress (users only)."""
    content: tuple[str, ...] = ()
    """Attributes compared with the stored record: a live record holding the same is unchanged whatever
    the versions (plans, versioned by the run's clock, would otherwise be rewritten by every run)."""


Method = Callable[["Clerk"], Callable[..., object]]
"""An SDK method, picked from a client: `lambda clerk: clerk.organization_roles.list`."""


def ordered(method: Method) -> Lister:
    """A list that takes `order_by`, asked oldest first."""
    return lambda clerk, limit, offset: method(clerk)(limit=limit, offset=offset, order_by=ORDER)


def by_id(method: Method, parameter: str) -> Getter:
    """A look-up by the record's id, passed as `parameter`."""
    return lambda clerk, key, _: method(clerk)(**{parameter: key[0]})


def _string_key(*values: object) -> Key | None:
    if all(isinstance(value, str) and value for value in values):
        return tuple(str(value) for value in values)
    return None


def _membership_key(obj: Mapping[str, Any]) -> Key | None:
    organization, user_data = obj.get("organization"), obj.get("public_user_data")
    return _string_key(
        organization.get("id") if isinstance(organization, dict) else None,
        user_data.get("user_id") if isinstance(user_data, dict) else None,
    )


def via(
    event_type: Callable[[Mapping[str, Any]], str], occurred_at: Callable[[Mapping[str, Any], int], int]
) -> Writer:
    """A writer through the webhook's event-type function (event_types.py): the object as the data of
    a synthesized event (side effects dropped)."""

    def write(obj: dict[str, Any], run_id: str, now_ms: int) -> Write:
        kind = event_type(obj)
        event = Event(svix_id=run_id, type=kind, data=obj, occurred_at=occurred_at(obj, now_ms))
        written = changes_of(event).write
        if written is None:  # every upsert event type writes; one that stops doing so is a bug here
            raise InvalidEventError(f"{kind} planned no write")
        return written

    return write


def _run_clock(obj: Mapping[str, Any], now_ms: int) -> int:
    return now_ms


def updated(event_type: str) -> Writer:
    """The write the `event_type` webhook (an `*.updated`) makes of the object (versioned by updated_at)."""
    return via(lambda obj: event_type, _run_clock)


INVITATION_EVENTS = {
    "accepted": "organizationInvitation.accepted",
    "revoked": "organizationInvitation.revoked",
}


def invitation_event(obj: Mapping[str, Any]) -> str:
    """The invitation event its status stands for (pending and expired: `.created`, Clerk sends no
    `.expired`)."""
    return INVITATION_EVENTS.get(str(obj.get("status")), "organizationInvitation.created")


def item_listed_at(obj: Mapping[str, Any], now_ms: int) -> int:
    """The `occurred_at` of a listed subscription item: when its state last changed (`updated_at`, else
    `created_at`), never the run's clock.

    An item's version is occurred_at × 10 + its status rank. Any webhook about a change after the listed
    state was reached is emitted at or after that change, so its version is at least the backfill's and
    it wins (a tie in time and status is stale for backfill); the backfill only beats events older than
    the state it read. The run's clock would beat webhooks emitted after the listing whenever this
    machine's clock runs ahead of Clerk's.
    """
    for name in ("updated_at", "created_at"):
        value = obj.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise InvalidEventError("missing data.updated_at and data.created_at")


def looked_up(table: Table, method: Method, event_type: str, get: Method, parameter: str) -> Listing:
    """A kind listed oldest first, planned as its `event_type` webhook, confirmed absent by `get` by id."""
    return Listing(table, ordered(method), updated(event_type), Absence.LOOKUP, lookup=by_id(get, parameter))


def listed_by(table: Table, method: Method, event_type: str, filtered: Filtered) -> Listing:
    """A kind listed oldest first, planned as its `event_type` webhook, that the SDK cannot look up one
    by one: confirmed absent by the `filtered` list of its stored field's value."""
    return Listing(
        table,
        ordered(method),
        updated(event_type),
        Absence.FILTERED,
        lookup_fields=(filtered.field,),
        filtered=filtered,
    )


LISTINGS: Mapping[Table, Listing] = {
    kind.table: kind
    for kind in (
        Listing(
            Table.USERS,
            lambda clerk, limit, offset: clerk.users.list(
                request={"limit": limit, "offset": offset, "order_by": ORDER}
            ),
            updated("user.updated"),
            Absence.LOOKUP,
            lookup=by_id(lambda clerk: clerk.users.get, "user_id"),
            array=True,
            count=lambda clerk: clerk.users.count().total_count,
        ),
        looked_up(
            Table.ORGANIZATIONS,
            lambda clerk: clerk.organizations.list,
            "organization.updated",
            lambda clerk: clerk.organizations.get,
            "organization_id",
        ),
        Listing(
            Table.MEMBERSHIPS,
            ordered(lambda clerk: clerk.users.get_instance_organization_memberships),
            updated("organizationMembership.updated"),
            Absence.MEMBERS,
            key=_membership_key,
        ),
        Listing(
            Table.INVITATIONS,
            ordered(lambda clerk: clerk.organization_invitations.get_all),
            via(invitation_event, _run_clock),
            Absence.LOOKUP,
            lookup=lambda clerk, key, stored: clerk.organization_invitations.get(
                organization_id=stored["organization_id"], invitation_id=key[0]
            ),
            lookup_fields=("organization_id",),
        ),
        listed_by(
            Table.DOMAINS,
            lambda clerk: clerk.organization_domains.list_all,
            "organizationDomain.updated",
            Filtered(
                "organization_id",
                lambda clerk, org_id, limit, offset: clerk.organization_domains.list(
                    organization_id=org_id, limit=limit, offset=offset
                ),
                gone_on_404=True,
            ),
        ),
        looked_up(
            Table.ROLES,
            lambda clerk: clerk.organization_roles.list,
            "role.updated",
            lambda clerk: clerk.organization_roles.get,
            "organization_role_id",
        ),
        looked_up(
            Table.PERMISSIONS,
            lambda clerk: clerk.organization_permissions.list,
            "permission.updated",
            lambda clerk: clerk.organization_permissions.get,
            "permission_id",
        ),
        listed_by(
            Table.WAITLIST,
            lambda clerk: clerk.waitlist_entries.list,
            "waitlistEntry.updated",
            Filtered(  # `query` filters by e-mail address; the list may hold other entries too
                "email_address",
                lambda clerk, email, limit, offset: clerk.waitlist_entries.list(
                    query=email, limit=limit, offset=offset, order_by=ORDER
                ),
            ),
        ),
        Listing(
            Table.PLANS,
            lambda clerk, limit, offset: clerk.billing.list_plans(paginated=True, limit=limit, offset=offset),
            plan_write,
            Absence.LISTED,
            content=(*PLAN_FIELDS, "features", CLERK),
        ),
        Listing(
            Table.SUBSCRIPTION_ITEMS,
            lambda clerk, limit, offset: clerk.billing.list_subscription_items(
                paginated=True, limit=limit, offset=offset, include_free=True
            ),
            via(lambda obj: "subscriptionItem.updated", item_listed_at),
            Absence.NONE,
            not_reconciled="subscription items never disappear from Clerk, they end (their status says so)",
        ),
    )
}
