"""The event-type table: each Clerk event type stored here maps to the function (in domain/entities/)
that turns it into `Changes` (writes.py). Types not in the table are acknowledged and ignored."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain import effects
from clerk_sync.domain.entities import (
    domains,
    emails,
    invitations,
    memberships,
    organizations,
    payment_attempts,
    permissions,
    roles,
    sessions,
    sms,
    subscription_items,
    subscriptions,
    users,
    waitlist,
)
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.writes import Changes, InvalidEventError, shown_id

EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    **users.EVENT_TYPES,
    **organizations.EVENT_TYPES,
    **memberships.EVENT_TYPES,
    **sessions.EVENT_TYPES,
    **emails.EVENT_TYPES,
    **sms.EVENT_TYPES,
    **invitations.EVENT_TYPES,
    **roles.EVENT_TYPES,
    **permissions.EVENT_TYPES,
    **domains.EVENT_TYPES,
    **waitlist.EVENT_TYPES,
    **subscriptions.EVENT_TYPES,
    **subscription_items.EVENT_TYPES,
    **payment_attempts.EVENT_TYPES,
}


def changes_of(event: Event) -> Changes:
    """What an event changes; unknown types change nothing (ignored). Raises InvalidEventError when
    the event lacks what applying it needs, its effects included: an effect the worker could never
    handle is refused now, not found poisoned on the queue later."""
    on_event = EVENT_TYPES.get(event.type)
    if on_event is None:
        return Changes(event.type, shown_id(event.field("id")))
    changes = on_event(event)
    for effect in changes.effects:
        missing = effects.missing_field(effect)
        if missing is not None:
            raise InvalidEventError(f"data.{missing}: expected a non-empty string")
    return changes
