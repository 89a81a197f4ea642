"""The event-type table: each Clerk event type stored here maps to the function (in domain/entities/)
that turns it into a `Plan`. Types not in the table are acknowledged and ignored."""

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
from clerk_sync.domain.plans import InvalidEventError, Plan, shown_id

PLANNERS: dict[str, Callable[[Event], Plan]] = {
    **users.PLANNERS,
    **organizations.PLANNERS,
    **memberships.PLANNERS,
    **sessions.PLANNERS,
    **emails.PLANNERS,
    **sms.PLANNERS,
    **invitations.PLANNERS,
    **roles.PLANNERS,
    **permissions.PLANNERS,
    **domains.PLANNERS,
    **waitlist.PLANNERS,
    **subscriptions.PLANNERS,
    **subscription_items.PLANNERS,
    **payment_attempts.PLANNERS,
}


def plan(event: Event) -> Plan:
    """The plan for an event; unknown types get an empty (ignored) plan. Raises InvalidEventError when
    the event lacks what applying it needs, its effects included: an effect the worker could never
    handle is refused now, not found poisoned on the queue later."""
    planner = PLANNERS.get(event.type)
    if planner is None:
        return Plan(event.type, shown_id(event.field("id")))
    planned = planner(event)
    for effect in planned.effects:
        missing = effects.missing_field(effect)
        if missing is not None:
            raise InvalidEventError(f"data.{missing}: expected a non-empty string")
    return planned
