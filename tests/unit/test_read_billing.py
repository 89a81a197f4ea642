"""Which subscription items grant their plan, and where a plan's features are read from (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from clerk_sync.read import BillingPlan, SubscriptionItem
from clerk_sync.read.billing import entitlements, plan_ids_without_features

NOW = 1_800_000_000_000
DAY = 86_400_000


def item(item_id: str, status: str, plan: str = "pro", *, features: tuple[str, ...] = (), **more: Any):
    stored: dict[str, Any] = {
        "id": item_id,
        "version": Decimal(1),
        "user_id": "user_1",
        "status": status,
        "plan_id": f"cplan_{plan}",
        "plan": {
            "id": f"cplan_{plan}",
            "slug": plan,
            "features": [{"id": f"f_{f}", "slug": f} for f in features],
        },
        "period_end": NOW + DAY,
        **more,
    }
    return SubscriptionItem.from_item(stored)


def stored_plan(slug: str, *features: str) -> BillingPlan:
    return BillingPlan.from_item(
        {"id": f"cplan_{slug}", "slug": slug, "features": [{"slug": f} for f in features]}
    )


@pytest.mark.parametrize(
    ("status", "period_end", "grants"),
    [
        ("active", NOW + DAY, True),
        ("active", NOW - DAY, True),  # Clerk ends an active item with its own event
        ("canceled", NOW + DAY, True),  # kept until the period ends
        ("canceled", NOW - DAY, False),
        ("canceled", None, True),
        ("past_due", NOW + DAY, False),
        ("upcoming", NOW + DAY, False),
        ("incomplete", NOW + DAY, False),
        ("ended", NOW + DAY, False),
        ("abandoned", NOW + DAY, False),
        ("expired", NOW + DAY, False),
        ("a_status_clerk_adds_later", NOW + DAY, False),
    ],
)
def test_which_items_grant_their_plan(status, period_end, grants):
    assert item("i", status, period_end=period_end).grants(NOW) is grants


def test_features_come_from_the_items_copy_else_from_the_plans_table():
    items = [
        item("i1", "active", "pro", features=("sso",)),  # backfilled: the copy has features
        item("i2", "active", "team"),  # from a webhook: the copy has none
        item("i3", "ended", "legacy"),
    ]
    assert plan_ids_without_features(items) == ["cplan_legacy", "cplan_team"]
    got = entitlements("user_1", items, {"cplan_team": stored_plan("team", "seats", "audit")}, NOW)
    assert [i.id for i in got.items] == ["i1", "i2"]
    assert got.plans == ("pro", "team") and got.features == {"sso", "seats", "audit"}
    assert got.unknown_plans == () and got.has("audit") and got.has_plan("team")
    assert not got.has("legacy") and not got.has_plan("legacy")


def test_a_plan_missing_from_the_plans_table_is_named_and_still_counts_by_slug():
    got = entitlements("user_1", [item("i1", "active", "team")], {}, NOW)
    assert got.plans == ("team",) and got.features == frozenset() and got.unknown_plans == ("cplan_team",)


def test_nothing_granted_is_empty():
    got = entitlements("org_1", [item("i1", "past_due"), item("i2", "upcoming")], {}, NOW)
    assert got.items == () and got.plans == () and got.features == frozenset() and got.unknown_plans == ()
