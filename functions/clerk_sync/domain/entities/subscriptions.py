"""subscription.created / .updated / .active / .pastDue (Clerk Billing)."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.payers import payer_fields
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

SUBSCRIPTION_FIELDS = TABLES[Table.SUBSCRIPTIONS].copied  # as Clerk sends them (domain/tables.py)


def on_subscription(event: Event) -> Changes:
    """subscription.*: the subscription's latest state, while its payer lives (its items have their
    own events and table)."""
    subscription_id = required_id(event.field("id"), "data.id")
    fields = {**pick(event.data, SUBSCRIPTION_FIELDS), **payer_fields(event)}
    write = live(event, Table.SUBSCRIPTIONS, {"id": subscription_id}, fields)
    return Changes(event.type, subscription_id, write)


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    f"subscription.{name}": on_subscription for name in ("created", "updated", "active", "pastDue")
}
