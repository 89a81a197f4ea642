"""organizationDomain.created / .updated / .deleted: the domains an organization enrolls users from."""

from __future__ import annotations

from collections.abc import Callable

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Changes, live, pick, required_id, tombstone

# Not `affiliation_email_address` as a typed attribute (a person's address, not needed to enroll by
# domain): it is in Clerk's complete object (`clerk`, domain/complete.py) as sent.
DOMAIN_FIELDS = TABLES[Table.DOMAINS].copied  # as Clerk sends them (domain/tables.py)


def on_domain_upsert(event: Event) -> Changes:
    """organizationDomain.created / .updated: the domain and its verification, while its organization
    lives."""
    domain_id = required_id(event.field("id"), "data.id")
    verification = event.field("verification")
    checked = verification if isinstance(verification, dict) else {}
    fields = {
        **pick(event.data, DOMAIN_FIELDS),
        "organization_id": required_id(event.field("organization_id"), "data.organization_id"),
        **pick(
            {"verification_status": checked.get("status"), "verification_strategy": checked.get("strategy")},
            ("verification_status", "verification_strategy"),
        ),
    }
    return Changes(event.type, domain_id, live(event, Table.DOMAINS, {"id": domain_id}, fields))


def on_domain_deleted(event: Event) -> Changes:
    """organizationDomain.deleted: a final tombstone (the same name added again has a new id)."""
    domain_id = required_id(event.field("id"), "data.id")
    return Changes(event.type, domain_id, tombstone(event, Table.DOMAINS, {"id": domain_id}))


EVENT_TYPES: dict[str, Callable[[Event], Changes]] = {
    "organizationDomain.created": on_domain_upsert,
    "organizationDomain.updated": on_domain_upsert,
    "organizationDomain.deleted": on_domain_deleted,
}
