"""session.created / .ended / .removed / .revoked / .pending."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

SESSION_FIELDS = TABLES[Table.SESSIONS].copied  # as Clerk sends them (domain/tables.py)


def on_session_upsert(event: Event) -> Changes:
    """session.*: store the session's latest state while its user lives."""
    session_id = required_id(event.field("id"), "data.id")
    required_id(event.field("user_id"), "data.user_id")
    write = live(event, Table.SESSIONS, {"id": session_id}, pick(event.data, SESSION_FIELDS))
    return Changes(event.type, session_id, write)


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    f"session.{status}": on_session_upsert for status in ("created", "ended", "removed", "revoked", "pending")
}
