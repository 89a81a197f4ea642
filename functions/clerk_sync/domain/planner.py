"""The event-type table: each Clerk event type stored here maps to the function (in domain/entities/)
that turns it into a `Plan`. Types not in the table are acknowledged and ignored."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.entities import emails, memberships, organizations, sessions, sms, users
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.plans import Plan

PLANNERS: dict[str, Callable[[Event], Plan]] = {
    **users.PLANNERS,
    **organizations.PLANNERS,
    **memberships.PLANNERS,
    **sessions.PLANNERS,
    **emails.PLANNERS,
    **sms.PLANNERS,
}


def plan(event: Event) -> Plan:
    """The plan for an event; unknown types get an empty (ignored) plan."""
    planner = PLANNERS.get(event.type)
    if planner is None:
        data_id = event.field("id")
        return Plan(event.type, data_id if isinstance(data_id, str) else None)
    return planner(event)
