"""Clerk Billing as an application reads it: subscriptions, subscription items, payment attempts, plans,
and what a payer is entitled to.

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
class Subscription:
    """A payer's subscription (table `subscriptions`): the items (`SubscriptionItem`) name it."""

    id: str
    version: int
    payer_id: str | None
    user_id: str | None
    """The paying user, or None when an organization pays."""
    organization_id: str | None
    status: str | None
    """`active`, `past_due`, … as Clerk's latest subscription event said."""
    latest_payment_id: str | None
    payment_source_id: str | None
    active_at: int | None
    canceled_at: int | None
    ended_at: int | None
    past_due_at: int | None
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Subscription:
        """The subscription of a live stored item."""
        return build_record(cls, item)


@dataclass(frozen=True)
class FailedReason:
    """Why a payment attempt failed, as the payment gateway said."""

    code: str | None
    decline_code: str | None


@dataclass(frozen=True)
class PaymentAttempt:
    """One attempt to charge a payer (table `payment_attempts`): card details stay in `clerk` only."""

    id: str
    version: int
    payer_id: str | None
    user_id: str | None
    """The paying user, or None when an organization pays."""
    organization_id: str | None
    status: str | None
    """`pending`, `paid` or `failed`."""
    payment_id: str | None
    statement_id: str | None
    charge_type: str | None
    """`checkout` or `recurring`."""
    totals: Mapping[str, Any] | None
    """Clerk's totals (`grand_total`, `subtotal`, `tax_total`, each an amount map), as sent."""
    billing_date: int | None
    paid_at: int | None
    failed_at: int | None
    failed_reason: FailedReason | None
    subscription_item_ids: tuple[str, ...]
    """The subscription items the attempt paid for."""
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete object as stored (every field Clerk sent, but those never stored), read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PaymentAttempt:
        """The payment attempt of a live stored item."""
        reason = item.get("failed_reason")
        return build_record(
            cls,
            item,
            failed_reason=build_record(FailedReason, reason) if isinstance(reason, Mapping) else None,
            subscription_item_ids=tuple(item.get("subscription_item_ids") or ()),
        )


@dataclass(frozen=True)
class PlanFeature(Feature):
    """A feature of a plan as the plans table stores it: with its description."""

    description: str | None


@dataclass(frozen=True)
class Plan:
    """A Clerk Billing plan as the plans table stores it (filled by backfill and reconcile: no webhook
    carries a plan with its features). Entitlements read the same items as `BillingPlan`."""

    id: str
    version: int
    """The clock (ms) of the backfill run that read the plan: a plan has no `updated_at`."""
    slug: str | None
    name: str | None
    description: str | None
    for_payer_type: str | None
    """`user` or `org`."""
    is_default: bool | None
    is_recurring: bool | None
    publicly_visible: bool | None
    features: tuple[PlanFeature, ...]
    created_at: int | None
    updated_at: int | None
    clerk: ClerkObject
    """Clerk's complete plan object as stored, read-only."""

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Plan:
        """The plan of a live stored item."""
        features = tuple(
            build_record(PlanFeature, f) for f in item.get("features") or () if isinstance(f, Mapping)
        )
        return build_record(cls, item, features=features)


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
