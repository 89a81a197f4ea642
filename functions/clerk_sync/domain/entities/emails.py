"""email.created: Clerk e-mails whose delivery the application took over."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.writes import Changes, required_id, required_text, shown_id


def on_email(event: Event) -> Changes:
    """email.created: deliver it ourselves when the app took delivery over from Clerk."""
    email_id = shown_id(event.field("id"))
    if event.field("delivered_by_clerk") is not False:
        return Changes(event.type, email_id)
    required_id(email_id, "data.id")
    required_text(event.field("to_email_address"), "data.to_email_address")
    return Changes(event.type, email_id, effects=(effects.deliver_email(event),))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {"email.created": on_email}
