"""The payer of a Clerk Billing record: a user or an organization (its parent, see tables.py)."""

from __future__ import annotations

from typing import Any

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.writes import pick, required_id

PAYER_SOURCES = {name: "data.payer" for name in ("payer_id", "user_id", "organization_id")}


def payer_fields(event: Event) -> dict[str, Any]:
    """`payer_id`, and the payer's `user_id` or `organization_id`, from `data.payer` (or `payer_id`)."""
    payer = event.field("payer")
    found = payer if isinstance(payer, dict) else {}
    fields = pick(
        {
            "payer_id": found.get("id") or event.field("payer_id") or None,
            "user_id": found.get("user_id") or None,  # Clerk sends the other side as ""
            "organization_id": found.get("organization_id") or None,
        },
        ("payer_id", "user_id", "organization_id"),
    )
    # keys of the payer indexes: ids, checked as such (never echoed)
    return {name: required_id(value, PAYER_SOURCES[name]) for name, value in fields.items()}
