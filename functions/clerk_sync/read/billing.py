"""Clerk Billing as an application reads it: subscription items, plans, and what a payer is entitled to
(the records of the subscriptions, payment attempts and plans tables: `billing_records`).

Which items grant their plan's features (`grants`) is decided here, without I/O: an `active` item (a
free trial included), and a `canceled` one until its period ends (Clerk keeps a canceled plan until
then). `past_due`, `upcoming`, `incomplete`, `ended`, `abandoned` and `expired` items grant nothing.
A plan's features come from the item's own copy of its plan when it has them (items backfill read
from the Backend API), else from the plans table (filled by backfill and reconcile: Clerk's webhooks
carry plans without features).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clerk_sync.read.records import ClerkObject, build_record

GRANTING = "active"
GRANTING_UNTIL_PERIOD_END = "canceled"


@dataclass(frozen=True)
class Feature:
    """A feature a plan includes: its `slug` is what an application checks."""

    id: str | None
    slug: str | None
    name: str | None


@dataclass(frozen=True)
class BillingPlan:
    """A Clerk Billing plan (table `plans`, or an item's copy of its plan)."""

    id: str | None
    slug: str | None
    name: str | None
    for_payer_type: str | None
    """`user` or `org`."""
    is_default: bool | None
    features: tuple[Feature, ...]
    clerk: ClerkObject
    """The plans table's: Clerk's complete plan object; an item's copy of its plan: empty (the item's
    `clerk` holds it)."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BillingPlan:
        """The plan of a stored item or map (feature entries without a slug are left out)."""
        features = tuple(
            build_record(Feature, f)
            for f in item.get("features") or ()
            if isinstance(f, Mapping) and f.get("slug")
        )
        return build_record(cls, item, features=features)


@dataclass(frozen=True)
class SubscriptionItem:
    """A payer's subscription to one plan (table `subscription_items`)."""

    id: str
    version: int
    payer_id: str | None
    user_id: str | None
    """The paying user, or None when an organization pays."""
    organization_id: str | None
    status: str | None
    plan_id: str | None
    plan: BillingPlan | None
    plan_period: str | None
    """`month` or `annual`."""
    period_start: int | None
    period_end: int | None
    canceled_at: int | None
    past_due_at: int | None
    ended_at: int | None
    is_free_trial: bool | None
    seats: int | None
    """The number of seats the item pays for (seat-based plans)."""
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    def grants(self, now_ms: int) -> bool:
        """True when the item's plan is the payer's at `now_ms` (see the module's rule)."""
        if self.status == GRANTING:
            return True
        if self.status == GRANTING_UNTIL_PERIOD_END:
            return self.period_end is None or self.period_end > now_ms
        return False

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> SubscriptionItem:
        """The subscription item of a live stored item."""
        plan = item.get("plan")
        return build_record(
            cls, item, plan=BillingPlan.from_item(plan) if isinstance(plan, Mapping) else None
        )


@dataclass(frozen=True)
class Entitlements:
    """What a payer (a user or an organization) has now: its granting items, their plans, the features."""

    payer: str
    items: tuple[SubscriptionItem, ...]
    """The items that grant (see `SubscriptionItem.grants`), by id."""
    plans: tuple[str, ...]
    """Their plans' slugs, sorted."""
    features: frozenset[str]
    """The slugs of every feature of those plans."""
    unknown_plans: tuple[str, ...]
    """Ids of granting plans whose features are not stored (run `clerk-sync backfill --kinds plans`)."""

    def has(self, feature: str) -> bool:
        """True when one of the payer's plans includes the feature (by slug)."""
        return feature in self.features

    def has_plan(self, slug: str) -> bool:
        """True when the payer is on the plan (by slug)."""
        return slug in self.plans


def plan_ids_without_features(items: Iterable[SubscriptionItem]) -> list[str]:
    """The plan ids whose features must be read from the plans table (the items' copies lack them)."""
    return sorted({i.plan_id for i in items if i.plan_id and not (i.plan and i.plan.features)})


def entitlements(
    payer: str, items: Iterable[SubscriptionItem], plans: Mapping[str, BillingPlan], now_ms: int
) -> Entitlements:
    """The payer's entitlements from its stored items and the stored plans (by id) at `now_ms`."""
    granting = sorted((i for i in items if i.grants(now_ms)), key=lambda i: i.id)
    slugs: set[str] = set()
    features: set[str] = set()
    unknown: set[str] = set()
    for item in granting:
        plan = item.plan if item.plan and item.plan.features else plans.get(item.plan_id or "")
        if plan is None:  # the plans table lacks it: the item's copy still names the plan
            unknown.add(item.plan_id or item.id)
            plan = item.plan
        if plan is None:
            continue
        if plan.slug:
            slugs.add(plan.slug)
        features.update(f.slug for f in plan.features if f.slug)
    return Entitlements(
        payer, tuple(granting), tuple(sorted(slugs)), frozenset(features), tuple(sorted(unknown))
    )
