"""paymentAttempt.created / .updated (Clerk Billing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.payers import payer_fields
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

# Not `payment_source` (card brand and last digits) or `payee` as typed attributes: nothing the app
# decides on (both are in Clerk's complete object, `clerk`, as sent).
PAYMENT_ATTEMPT_FIELDS = TABLES[Table.PAYMENT_ATTEMPTS].copied  # as Clerk sends them (domain/tables.py)


def _failure(reason: object) -> dict[str, Any]:
    found = reason if isinstance(reason, dict) else {}
    return pick(
        {"code": found.get("code"), "decline_code": found.get("decline_code")}, ("code", "decline_code")
    )


def _item_ids(items: object) -> list[str]:
    entries = items if isinstance(items, list) else []
    return [i["id"] for i in entries if isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"]]


def on_payment_attempt(event: Event) -> Changes:
    """paymentAttempt.*: the attempt's latest state (pending, paid, failed) and the items it paid for."""
    attempt_id = required_id(event.field("id"), "data.id")
    failure = _failure(event.field("failed_reason"))
    fields = {
        **pick(event.data, PAYMENT_ATTEMPT_FIELDS),
        **payer_fields(event),
        **({"failed_reason": failure} if failure else {}),
        "subscription_item_ids": _item_ids(event.field("subscription_items")),
    }
    write = live(event, Table.PAYMENT_ATTEMPTS, {"id": attempt_id}, fields)
    return Changes(event.type, attempt_id, write)


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "paymentAttempt.created": on_payment_attempt,
    "paymentAttempt.updated": on_payment_attempt,
}
