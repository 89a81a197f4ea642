"""subscriptionItem.* (Clerk Billing): one event type per status an item reaches.

A subscription item has no `updated_at`. Its version is the event's `timestamp` (when Clerk emitted
the event, in ms), times ten, plus the rank of the status it reports in an item's lifecycle: events of
one item are emitted in the order its state changed, so the timestamp orders them, and two in the same
millisecond are ordered by how far along the lifecycle their status is. Backfill versions an item
it reads from the Backend API by the item's own `updated_at` (adapters/clerk/listings.py,
`item_listed_at`), so a listing never beats a webhook emitted at or after the change it shows.

The event types are those of Clerk's webhook spec (clerk/openapi-specs `webhooks/2025-04-15.yml`),
plus `subscriptionItem.created`: removed from the spec on 2026-08-03 but still in `@clerk/backend`'s
types, so it may still be sent. There is no `subscriptionItem.expired` (in none of Clerk's spec, types
or docs): one would be acknowledged and ignored. `expired` keeps its rank (stored versions depend on
the ranks), for an item read from the Backend API with that status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.payers import payer_fields
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

ITEM_FIELDS = TABLES[Table.SUBSCRIPTION_ITEMS].copied  # as Clerk sends them (domain/tables.py)
_PLAN = TABLES[Table.SUBSCRIPTION_ITEMS].field("plan")
PLAN_FIELDS = _PLAN.copied
FEATURE_FIELDS = _PLAN.field("features").copied

# An item's statuses in lifecycle order (an unknown status ranks first: any known one wins a tie).
STATUS_RANK = {
    status: rank
    for rank, status in enumerate(
        (
            "upcoming",
            "incomplete",
            "free_trial",
            "active",
            "past_due",
            "canceled",
            "abandoned",
            "expired",
            "ended",
        ),
        start=1,
    )
}
EVENT_STATUSES = (
    "created",
    "updated",
    "active",
    "canceled",
    "upcoming",
    "ended",
    "abandoned",
    "incomplete",
    "pastDue",
    "freeTrialEnding",
)


def item_version(at_ms: int, status: object) -> int:
    """The version of an item's state seen at `at_ms` (an event's timestamp, or a listing's time)."""
    return at_ms * 10 + STATUS_RANK.get(status if isinstance(status, str) else "", 0)


def item_version_parts(version: int) -> tuple[int, int, str]:
    """What an item's version says (item_version's inverse): the time in ms, the status's rank, and the
    status ranked so ("" for rank 0, an unknown status)."""
    at_ms, rank = divmod(version, 10)
    return at_ms, rank, next((status for status, known in STATUS_RANK.items() if known == rank), "")


def _plan(plan: object) -> dict[str, Any] | None:
    if not isinstance(plan, dict):
        return None
    features = plan.get("features")
    entries = features if isinstance(features, list) else []
    return {
        **pick(plan, PLAN_FIELDS),
        "features": [pick(f, FEATURE_FIELDS) for f in entries if isinstance(f, dict) and f.get("slug")],
    }


def _seats(seats: object) -> object:
    """The number of seats: Clerk's `seats` as a number, or the `quantity` of a `seats` object."""
    return seats.get("quantity") if isinstance(seats, dict) else seats


def item_fields(event: Event) -> dict[str, Any]:
    """The stored attributes of a subscription item: its own, its payer's ids, and its plan."""
    plan = _plan(event.field("plan"))
    plan_id = event.field("plan_id") or (plan or {}).get("id")
    return {
        **pick(event.data, ITEM_FIELDS),
        **pick({"plan_id": plan_id, "seats": _seats(event.field("seats"))}, ("plan_id", "seats")),
        **payer_fields(event),
        **({"plan": plan} if plan else {}),
    }


def on_subscription_item(event: Event) -> Changes:
    """subscriptionItem.*: the item's latest state, while its payer lives."""
    item_id = required_id(event.field("id"), "data.id")
    version = item_version(event.occurred_at, event.field("status"))
    write = live(
        event,
        Table.SUBSCRIPTION_ITEMS,
        {"id": item_id},
        item_fields(event),
        {"version": "timestamp"},
        version,
    )
    return Changes(event.type, item_id, write)


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    f"subscriptionItem.{name}": on_subscription_item for name in EVENT_STATUSES
}
