"""Clerk Billing plans, as the Backend API lists them (`GET /billing/plans`), with their features.

No webhook carries a plan whole (the plan inside a subscription item event has no `features`), so only
backfill writes this table. A plan has no `updated_at`: its version is the clock of the backfill run
that read it (ms), so a newer run's reading replaces an older one through the usual version guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clerk_sync.domain.tables import CLERK, TABLES, Table, copied_names
from clerk_sync.domain.writes import InvalidEventError, Write, complete_object, pick, required_id

_PLANS = TABLES[Table.PLANS]
PLAN_FIELDS = copied_names(_PLANS.fields)  # as the Backend API lists them (domain/tables.py)
FEATURE_FIELDS = _PLANS.field("features").copied


def _features(features: object) -> list[dict[str, Any]]:
    if features is None:
        return []
    if not isinstance(features, list):
        raise InvalidEventError("features is not a list")
    return [pick(f, FEATURE_FIELDS) for f in features if isinstance(f, dict) and f.get("slug")]


def plan_write(plan: Mapping[str, Any], svix_id: str, version: int) -> Write:
    """The record of an API plan object, versioned `version` (the reading run's clock, ms);
    InvalidEventError when it has no id."""
    plan_id = required_id(plan.get("id"), "id")
    item = {
        **pick(plan, PLAN_FIELDS),
        "features": _features(plan.get("features")),
        "id": plan_id,
        "version": version,
        "svix_id": svix_id,
        CLERK: complete_object(dict(plan)),
    }
    return Write(
        table=Table.PLANS,
        key={"id": plan_id},
        item=item,
        version=version,
        tombstone=False,
        sources={"version": "the backfill run's clock", CLERK: "the plan"},
    )
