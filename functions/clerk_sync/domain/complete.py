"""Clerk's complete object: what a live record keeps of the object Clerk sent (a webhook's `data`, or the
Backend API's object for backfill and first-use sync), so that an application reads any field, one Clerk
adds after this release included, through `record.clerk`.

Stored compressed in one binary attribute (`tables.CLERK`): zlib of the canonical JSON text (keys
sorted, no spaces, non-ASCII escaped, so any string Clerk sent comes back as sent), numbers as parsed
(the envelope parser refuses any a double cannot keep), with `ZDICT` as zlib's preset dictionary (the
shapes of Clerk's objects: a user's keys and usual values are referred to, not spelled out; a user's
object takes about 200 bytes instead of 660 with plain zlib). Records written with plain zlib, before
the dictionary, stay readable: `decompress` reads the zlib header. Tombstones keep none of it.

`DENIED` is the deny-list: the keys removed, at any depth (metadata aside), before anything is stored.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

DENIED = frozenset(
    {
        # an invitation's link: it carries the sign-up ticket (organization invitations, and the
        # invitation inside a waitlist entry)
        "url",
        # a session's latest activity: IP address, city, country, browser and device
        "latest_activity",
        # network and location data wherever Clerk puts them
        "ip_address",
        "client_ip",
        "user_agent",
        "city",
        "country",
        # credentials, tickets and one-time codes, should Clerk ever send them
        "ticket",
        "token",
        "secret",
        "password",
        "password_digest",
        "nonce",
        "backup_codes",
        "otp_code",
        "verification_code",
        "external_verification_redirect_url",
    }
)
"""Keys never stored, at any depth of the object. Delegated e-mail and SMS bodies (`email.created`,
`sms.created`) are not stored at all: those events write no record."""

LEVEL = 9  # zlib's best: objects are small, compressing them costs microseconds


def _shape(obj: dict[str, Any]) -> str:
    """An object's canonical JSON (as `compress` writes it) without its outer braces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))[1:-1]


_TS = 1700000000000  # a timestamp's digits: Clerk's are milliseconds since 2023
_IMAGE = "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCIsImlpZCI6Imluc18"  # {"type":"default","iid":"ins_
_AVATAR = "https://www.gravatar.com/avatar?d=mp"
_VERIFICATION = {"attempts": 1, "expire_at": _TS, "status": "verified", "strategy": "email_code"}
_AMOUNT = {"amount": 0, "amount_formatted": "0.00", "currency": "USD", "currency_symbol": "$"}
_PAYER = {
    "created_at": _TS,
    "email": "",
    "first_name": "",
    "id": "cpayer_",
    "image_url": _IMAGE,
    "last_name": "",
    "object": "commerce_payer",
    "organization_id": "org_",
    "organization_name": "",
    "updated_at": _TS,
    "user_id": "user_",
}
_PLAN = {
    "amount": 0,
    "annual_monthly_amount": 0,
    "currency": "USD",
    "description": None,
    "features": [],
    "has_base_fee": False,
    "id": "cplan_",
    "instance_id": "ins_",
    "interval": 1,
    "is_default": False,
    "is_recurring": True,
    "name": "",
    "period": "month",
    "product_id": "cprd_",
    "publicly_visible": True,
    "slug": "",
    "unit_prices": [
        {"block_size": 1, "name": "seats", "tiers": [{"amount_per_block": 0, "currency": "USD"}]}
    ],
}
_ITEM = {
    "amount": _AMOUNT,
    "canceled_at": None,
    "created_at": _TS,
    "id": "csub_item_",
    "interval": "month",
    "is_free_trial": False,
    "lifetime_paid": 0,
    "next_payment_amount": 0,
    "next_payment_date": _TS,
    "object": "commerce_subscription_item",
    "past_due_at": None,
    "payer": _PAYER,
    "period_end": _TS,
    "period_start": _TS,
    "plan": _PLAN,
    "plan_id": "cplan_",
    "plan_period": "month",
    "seats": {"quantity": 1},
    "status": "active",
    "subscription_id": "csub_",
    "updated_at": _TS,
}
_ORGANIZATION_DATA = {"has_image": False, "id": "org_", "image_url": _IMAGE, "name": "", "slug": ""}
_USER_DATA = {
    "first_name": "",
    "has_image": False,
    "identifier": "",
    "image_url": _IMAGE,
    "last_name": "",
    "profile_image_url": _AVATAR,
    "user_id": "user_",
}
_ORGANIZATION = {
    "admin_delete_enabled": True,
    "created_at": _TS,
    "created_by": "user_",
    "has_image": False,
    "id": "org_",
    "image_url": _IMAGE,
    "max_allowed_memberships": 5,
    "members_count": 1,
    "name": "",
    "object": "organization",
    "pending_invitations_count": 0,
    "private_metadata": {},
    "public_metadata": {},
    "role_set_key": None,
    "slug": "",
    "updated_at": _TS,
}
_EMAIL_ADDRESS = {
    "created_at": _TS,
    "email_address": "",
    "id": "idn_",
    "linked_to": [],
    "matches_sso_connection": False,
    "object": "email_address",
    "reserved": False,
    "updated_at": _TS,
    "verification": _VERIFICATION,
}
_PHONE_NUMBER: dict[str, Any] = {
    "backup_codes": None,
    "created_at": _TS,
    "default_second_factor": False,
    "id": "idn_",
    "linked_to": [],
    "object": "phone_number",
    "phone_number": "+1",
    "reserved": False,
    "reserved_for_second_factor": False,
    "updated_at": _TS,
    "verification": {**_VERIFICATION, "strategy": "phone_code"},
}
_EXTERNAL_ACCOUNT = {
    "approved_scopes": "email profile openid",
    "email_address": "",
    "family_name": "",
    "given_name": "",
    "id": "eac_",
    "identification_id": "idn_",
    "image_url": "",
    "label": None,
    "object": "external_account",
    "provider": "oauth_google",
    "provider_user_id": "",
    "public_metadata": {},
    "username": None,
    "verification": {**_VERIFICATION, "strategy": "oauth_google"},
}
_USER: dict[str, Any] = {
    "backup_code_enabled": False,
    "banned": False,
    "bypass_client_trust": False,
    "create_organization_enabled": True,
    "create_organizations_limit": None,
    "created_at": _TS,
    "delete_self_enabled": True,
    "deprovisioned": False,
    "email_addresses": [_EMAIL_ADDRESS],
    "enterprise_accounts": [],
    "external_accounts": [],
    "external_id": None,
    "first_name": "",
    "has_image": False,
    "id": "user_",
    "image_url": _IMAGE,
    "last_active_at": _TS,
    "last_name": "",
    "last_sign_in_at": _TS,
    "legal_accepted_at": None,
    "locale": None,
    "locked": False,
    "lockout_expires_in_seconds": None,
    "mfa_disabled_at": None,
    "mfa_enabled_at": None,
    "object": "user",
    "passkeys": [],
    "password_enabled": False,
    "phone_numbers": [],
    "primary_email_address_id": "idn_",
    "primary_phone_number_id": None,
    "primary_web3_wallet_id": None,
    "private_metadata": {},
    "profile_image_url": _AVATAR,
    "public_metadata": {},
    "saml_accounts": [],
    "scim": None,
    "totp_enabled": False,
    "two_factor_enabled": False,
    "unsafe_metadata": {},
    "updated_at": _TS,
    "username": None,
    "verification_attempts_remaining": 100,
    "web3_wallets": [],
}
_SHAPES: tuple[dict[str, Any], ...] = (
    # least frequent first: zlib reaches the dictionary's end with the shortest distances
    {
        "billing_date": _TS,
        "charge_type": "checkout",
        "failed_at": None,
        "failed_reason": None,
        "gateway_external_id": "",
        "id": "pa_",
        "invoice_id": "stmt_",
        "object": "commerce_payment_attempt",
        "paid_at": None,
        "payee": {
            "gateway_external_id": "acct_",
            "gateway_status": "active",
            "gateway_type": "stripe",
            "id": "cpayee_",
        },
        "payment_id": "cpa_",
        "payment_source": {
            "card_type": "visa",
            "gateway": "stripe",
            "gateway_external_account_id": "acct_",
            "gateway_external_id": "pm_",
            "id": "cps_",
            "last4": "",
            "payment_method": "card",
            "status": "active",
        },
        "statement_id": "stmt_",
        "status": "paid",
        "totals": {"grand_total": _AMOUNT, "subtotal": _AMOUNT, "tax_total": _AMOUNT},
    },
    {
        "active_at": _TS,
        "ended_at": None,
        "id": "csub_",
        "items": [],
        "latest_payment_id": "cpa_",
        "object": "commerce_subscription",
        "payer_id": "cpayer_",
        "payment_source_id": "cps_",
    },
    _ITEM,
    {
        "created_at": _TS,
        "email_address": "",
        "id": "wle_",
        "invitation": {
            "expires_at": _TS,
            "id": "inv_",
            "object": "invitation",
            "revoked": False,
            "status": "pending",
        },
        "is_locked": False,
        "object": "waitlist_entry",
        "status": "pending",
    },
    {
        "created_at": _TS,
        "description": "",
        "id": "role_",
        "is_creator_eligible": True,
        "key": "org:",
        "name": "",
        "object": "role",
        "permissions": [
            {
                "created_at": _TS,
                "description": "",
                "id": "perm_",
                "key": "org:sys_",
                "name": "",
                "object": "permission",
                "type": "system",
            }
        ],
    },
    {
        "affiliation_email_address": "",
        "affiliation_verification": {
            "attempts": 0,
            "expire_at": _TS,
            "status": "unverified",
            "strategy": "email_code",
            "verified_at": None,
        },
        "created_at": _TS,
        "enrollment_mode": "automatic_invitation",
        "id": "orgdm_",
        "name": "",
        "object": "organization_domain",
        "organization_id": "org_",
        "ownership_verification": None,
        "public_organization_data": _ORGANIZATION_DATA,
        "total_pending_invitations": 0,
        "total_pending_suggestions": 0,
    },
    {
        "created_at": _TS,
        "email_address": "",
        "expires_at": _TS,
        "id": "orginv_",
        "inviter_id": "user_",
        "object": "organization_invitation",
        "organization_id": "org_",
        "private_metadata": {},
        "public_inviter_data": _USER_DATA,
        "public_metadata": {},
        "public_organization_data": _ORGANIZATION_DATA,
        "role": "org:member",
        "role_name": "Member",
        "status": "pending",
    },
    {
        "created_at": _TS,
        "id": "orgmem_",
        "object": "organization_membership",
        "organization": _ORGANIZATION,
        "permissions": [
            "org:sys_profile:manage",
            "org:sys_profile:delete",
            "org:sys_memberships:read",
            "org:sys_memberships:manage",
            "org:sys_domains:read",
            "org:sys_domains:manage",
        ],
        "private_metadata": {},
        "public_metadata": {},
        "public_user_data": _USER_DATA,
        "role": "org:member",
        "role_name": "Member",
        "updated_at": _TS,
    },
    _PHONE_NUMBER,
    _EXTERNAL_ACCOUNT,
    {
        "abandon_at": _TS,
        "actor": None,
        "client_id": "client_",
        "created_at": _TS,
        "expire_at": _TS,
        "id": "sess_",
        "last_active_at": _TS,
        "last_active_organization_id": None,
        "object": "session",
        "status": "active",
        "updated_at": _TS,
        "user_id": "user_",
    },
    _USER,
)
ZDICT = "".join(_shape(shape) for shape in _SHAPES).encode("ascii")
"""zlib's preset dictionary for `compress`: the canonical JSON of each kind of Clerk object's shape (its
keys in order, with Clerk's usual values), so a stored object refers to the keys and values it shares
with its kind instead of spelling them out. Built from this module's constants only: changing it changes
how new objects are stored, and `decompress` then needs the old dictionary for records already written
(keep it, then, under its Adler-32, which every dictionary stream names)."""

DICTIONARIES = {zlib.adler32(ZDICT): ZDICT}
"""The dictionaries `decompress` reads, by their Adler-32 (the DICTID of a zlib header)."""
FDICT = 0x20  # the zlib header's flag: a preset dictionary was used, its DICTID follows


def allowed(value: Any) -> Any:
    """`value` without the `DENIED` keys of its objects, at any depth but inside metadata (the
    application's own maps, stored as set: `public_metadata`, …)."""
    if isinstance(value, dict):
        return {
            key: inner if key.endswith("_metadata") else allowed(inner)
            for key, inner in value.items()
            if key not in DENIED
        }
    if isinstance(value, list):
        return [allowed(inner) for inner in value]
    return value


def compress(obj: dict[str, Any]) -> bytes:
    """The stored form of a Clerk object: its allowed part as canonical JSON, compressed."""
    text = json.dumps(allowed(obj), sort_keys=True, separators=(",", ":"))
    packer = zlib.compressobj(LEVEL, zdict=ZDICT)
    return packer.compress(text.encode("ascii")) + packer.flush()


def decompress(stored: bytes) -> Any:
    """The object `compress` stored: with the preset dictionary its zlib header names (FDICT and the
    dictionary's Adler-32), or without one, as records written before the dictionary were."""
    if len(stored) >= 6 and stored[1] & FDICT:
        dictionary = DICTIONARIES.get(int.from_bytes(stored[2:6], "big"))
        if dictionary is None:
            raise ValueError("the complete object was stored with an unknown zlib dictionary")
        unpacker = zlib.decompressobj(zdict=dictionary)
        return json.loads(unpacker.decompress(stored) + unpacker.flush())
    return json.loads(zlib.decompress(stored))
