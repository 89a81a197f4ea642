"""The read side: typed, tombstone-aware reads of the synced tables for application code.

    from clerk_sync.read import ClerkData

    data = ClerkData.from_environment()
    user = data.ensure_user(user_id)          # stored, or fetched from Clerk and stored first
    for entry in data.organizations_of(user_id):
        print(entry.organization, entry.role)
    if data.entitlements(user_id).has("exports"):  # a Clerk Billing feature, by slug
        ...

Importing this package loads boto3, the settings and the table registry: not the webhook's modules,
Powertools, PynamoDB or the Clerk SDK (those two are imported at the first `ensure_*` miss).
"""

from clerk_sync.read.billing import (
    BillingPlan,
    Entitlements,
    FailedReason,
    Feature,
    PaymentAttempt,
    Plan,
    PlanFeature,
    Subscription,
    SubscriptionItem,
)
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

__all__ = [
    "AwsConfigError",
    "BillingPlan",
    "ClerkData",
    "ClerkUnavailableError",
    "Domain",
    "EmailAddress",
    "Entitlements",
    "FailedReason",
    "Feature",
    "Invitation",
    "Membership",
    "Organization",
    "OrganizationMembership",
    "PaymentAttempt",
    "Permission",
    "Plan",
    "PlanFeature",
    "PublicUserData",
    "Role",
    "Scim",
    "Session",
    "Subscription",
    "SubscriptionItem",
    "User",
    "WaitlistEntry",
]
