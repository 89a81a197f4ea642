"""user.created / .updated / .deleted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id, tombstone

USER_FIELDS = TABLES[Table.USERS].copied  # as Clerk sends them (domain/tables.py)
SCIM_FIELDS = TABLES[Table.USERS].field("scim").copied


def _primary(entries: object, primary_id: object, value_field: str) -> str | None:
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == primary_id:
            value = entry.get(value_field)
            return value if isinstance(value, str) and value else None
    return None


def _verification_status(verification: object) -> object:
    return verification.get("status") if isinstance(verification, dict) else None


def user_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The stored attributes of a Clerk user object."""
    raw_addresses = data.get("email_addresses")
    addresses: list[Any] = raw_addresses if isinstance(raw_addresses, list) else []
    stored_addresses = [
        pick(
            {
                "id": a.get("id"),
                "email_address": a.get("email_address"),
                "verification_status": _verification_status(a.get("verification")),
            },
            ("id", "email_address", "verification_status"),
        )
        for a in addresses
        if isinstance(a, dict)
    ]
    return {
        **pick(data, USER_FIELDS),
        **pick(
            {
                "email": _primary(addresses, data.get("primary_email_address_id"), "email_address"),
                "phone_number": _primary(
                    data.get("phone_numbers"), data.get("primary_phone_number_id"), "phone_number"
                ),
            },
            ("email", "phone_number"),
        ),
        "email_addresses": stored_addresses,
        **({"scim": pick(scim, SCIM_FIELDS)} if isinstance(scim := data.get("scim"), dict) else {}),
    }


def on_user_upsert(event: Event) -> Changes:
    """user.created / user.updated: store the user; a creation also greets them."""
    user_id = required_id(event.field("id"), "data.id")
    fields = user_fields(event.data)
    write = live(event, Table.USERS, {"id": user_id}, fields)
    greet = (effects.welcome_email(event, fields.get("email")),) if event.type == "user.created" else ()
    return Changes(event.type, user_id, write, greet)


def on_user_deleted(event: Event) -> Changes:
    """user.deleted: a final tombstone, then clean-up of the user's records in other tables.

    The tombstone keeps `external_id`: the application's own id for the user (not personal data in
    itself), so that the application can find and erase its own rows of the deleted user."""
    user_id = required_id(event.field("id"), "data.id")
    write = tombstone(event, Table.USERS, {"id": user_id}, pick(event.data, ("external_id",)))
    return Changes(event.type, user_id, write, (effects.user_cleanup(event),))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "user.created": on_user_upsert,
    "user.updated": on_user_upsert,
    "user.deleted": on_user_deleted,
}
