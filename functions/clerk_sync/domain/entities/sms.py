"""sms.created: Clerk text messages (SMS) whose delivery the application took over."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.writes import Changes, required_id, required_text, shown_id


def on_sms(event: Event) -> Changes:
    """sms.created: deliver it ourselves when the app took delivery over from Clerk."""
    sms_id = shown_id(event.field("id"))
    if event.field("delivered_by_clerk") is not False:
        return Changes(event.type, sms_id)
    required_id(sms_id, "data.id")
    required_text(event.field("to_phone_number"), "data.to_phone_number")
    required_text(event.field("message"), "data.message")
    return Changes(event.type, sms_id, effects=(effects.deliver_sms(event),))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {"sms.created": on_sms}
