"""organizationInvitation.created / .accepted / .revoked."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id

# Not `url`: it carries the invitation's ticket, which signs its holder up.
INVITATION_FIELDS = TABLES[Table.INVITATIONS].copied  # as Clerk sends them (domain/tables.py)


def _organization_id(event: Event) -> str:
    """The invitation's organization (`organization_id`, or the id in `public_organization_data`)."""
    public = event.field("public_organization_data")
    fallback = public.get("id") if isinstance(public, dict) else None
    return required_id(event.field("organization_id") or fallback, "data.organization_id")


def on_invitation(event: Event) -> Changes:
    """Every invitation event stores the invitation's state (its status says pending, accepted or
    revoked) while its organization lives; an accepted one names the user who joined."""
    invitation_id = required_id(event.field("id"), "data.id")
    fields = {**pick(event.data, INVITATION_FIELDS), "organization_id": _organization_id(event)}
    return Changes(event.type, invitation_id, live(event, Table.INVITATIONS, {"id": invitation_id}, fields))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    f"organizationInvitation.{name}": on_invitation for name in ("created", "accepted", "revoked")
}
