"""waitlistEntry.created / .updated."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

WAITLIST_FIELDS = TABLES[Table.WAITLIST].copied  # as Clerk sends them (domain/tables.py)


def on_waitlist_entry(event: Event) -> Changes:
    """waitlistEntry.*: the entry's latest state, and the id of the invitation it led to."""
    entry_id = required_id(event.field("id"), "data.id")
    invitation = event.field("invitation")
    invitation_id = invitation.get("id") if isinstance(invitation, dict) else None
    fields = {
        **pick(event.data, WAITLIST_FIELDS),
        **pick({"invitation_id": invitation_id}, ("invitation_id",)),
    }
    write = live(event, Table.WAITLIST, {"id": entry_id}, fields)
    return Changes(event.type, entry_id, write)


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "waitlistEntry.created": on_waitlist_entry,
    "waitlistEntry.updated": on_waitlist_entry,
}
