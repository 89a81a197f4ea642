"""The read side: typed, tombstone-aware reads of the synced tables for application code.

    from clerk_sync.read import ClerkData, Membership, parse

    data = ClerkData.from_environment()
    user = data.ensure_user(user_id)          # stored, or fetched from Clerk and stored first
    for entry in data.organizations_of(user_id):
        print(entry.organization, entry.role)
    if data.entitlements(user_id).has("exports"):  # a Clerk Billing feature, by slug
        ...

    change = parse(event)                     # an event of the change feed (clerk_sync.read.changes)
    if change.change == "created" and isinstance(change.new, Membership):
        ...

Importing this package loads boto3, the settings and the table registry: not the webhook's modules,
Powertools, PynamoDB or the Clerk SDK (those two are imported at the first `ensure_*` miss). The change
feed's names (`parse`, `Change`, …) and the records of the tables no `ClerkData` call reads
(`Subscription`, `PaymentAttempt`, `Plan`) load when first used.
"""

import importlib
from typing import TYPE_CHECKING, Any

from clerk_sync.read.billing import BillingPlan, Entitlements, Feature, SubscriptionItem
from clerk_sync.read.data import ClerkData
from clerk_sync.read.errors import AwsConfigError, ClerkUnavailableError
from clerk_sync.read.records import (
    Domain,
    EmailAddress,
    Invitation,
    Membership,
    Organization,
    OrganizationMembership,
    Permission,
    PublicUserData,
    Role,
    Scim,
    Session,
    User,
    WaitlistEntry,
)

if TYPE_CHECKING:
    from clerk_sync.read.billing_records import FailedReason, PaymentAttempt, Plan, PlanFeature, Subscription
    from clerk_sync.read.changes import Change, ChangeType, NotAChangeError, Record, parse

_LAZY = {
    **dict.fromkeys(("Change", "ChangeType", "NotAChangeError", "Record", "parse"), "changes"),
    **dict.fromkeys(
        ("FailedReason", "PaymentAttempt", "Plan", "PlanFeature", "Subscription"), "billing_records"
    ),
}
"""Names loaded at their first use, by module: the change feed's, and the records of the tables no
`ClerkData` call reads (an application that only reads pays nothing for them)."""


def __getattr__(name: str) -> Any:
    """A name of `_LAZY`, its module imported now."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "AwsConfigError",
    "BillingPlan",
    "Change",
    "ChangeType",
    "ClerkData",
    "ClerkUnavailableError",
    "Domain",
    "EmailAddress",
    "Entitlements",
    "FailedReason",
    "Feature",
    "Invitation",
    "Membership",
    "NotAChangeError",
    "Organization",
    "OrganizationMembership",
    "PaymentAttempt",
    "Permission",
    "Plan",
    "PlanFeature",
    "PublicUserData",
    "Record",
    "Role",
    "Scim",
    "Session",
    "Subscription",
    "SubscriptionItem",
    "User",
    "WaitlistEntry",
    "parse",
]
