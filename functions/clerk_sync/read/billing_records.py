"""The records of the billing tables `ClerkData` has no call for: subscriptions, payment attempts and plans
(entitlements read a plans item as a `BillingPlan`). Change events carry them (`clerk_sync.read.parse`).

Imported at the first use of one of their names (`clerk_sync.read` loads them lazily): an application that
only reads pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clerk_sync.read.billing import Feature
from clerk_sync.read.records import ClerkObject, build_record


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
