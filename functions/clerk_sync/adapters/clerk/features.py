"""Features an instance may have switched off, and how Clerk says so (the recognised codes, in one place).

Clerk refuses the lists of a feature that is off with 403, e.g. `organization_not_enabled_in_instance`
("The organizations feature is not enabled for this instance"). That is not an authentication failure:
the kind is skipped and the run goes on. Recognised: the codes below and the `*_not_enabled*` family;
failing a code, a 403 whose message says "not enabled" (billing's code is not documented publicly).
A 401, and a 403 with an authentication code, still mean the secret key is wrong.

A kind whose parent kind is skipped is skipped without asking: organizations' memberships,
invitations, domains, roles and permissions need the organizations feature, and subscription items
need billing as plans do. A skipped kind is never reconciled (nothing of it is tombstoned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clerk_sync.domain.tables import Table

NOT_ENABLED_CODES = frozenset(
    {
        "organization_not_enabled_in_instance",
        "organizations_not_enabled_in_instance",  # the spelling of older Backend API docs
        "organization_domains_not_enabled",
        "feature_not_enabled",
    }
)
NOT_ENABLED_MARK = "_not_enabled"  # the family: `<feature>_not_enabled[_in_instance]`
NOT_ENABLED_TEXT = "not enabled"
AUTH_CODES = frozenset(
    {
        "authentication_invalid",
        "authorization_invalid",
        "clerk_key_invalid",
        "authorization_header_format_invalid",
    }
)

PARENT: Mapping[Table, Table] = {
    **dict.fromkeys(
        (Table.MEMBERSHIPS, Table.INVITATIONS, Table.DOMAINS, Table.ROLES, Table.PERMISSIONS),
        Table.ORGANIZATIONS,
    ),
    Table.SUBSCRIPTION_ITEMS: Table.PLANS,
}
"""A kind -> the kind whose feature it needs (skipped with it)."""

NOT_ENABLED = "not enabled on this instance, skipped"


def not_enabled(status: int, codes: Iterable[str], messages: Iterable[str]) -> bool:
    """True when Clerk's answer says the feature is off (never for a 401 or an authentication code)."""
    codes = set(codes)
    if status != 403 or codes & AUTH_CODES:
        return False
    if codes & NOT_ENABLED_CODES or any(NOT_ENABLED_MARK in code for code in codes):
        return True
    return any(NOT_ENABLED_TEXT in message.lower() for message in messages)


def skipped_with(parent: Table) -> str:
    """Why a kind is skipped when its parent kind is."""
    return f"skipped, {parent.value} not enabled on this instance"
