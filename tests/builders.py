"""Clerk-shaped payloads, signed deliveries and Lambda events for tests."""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.signature import sign
from clerk_sync_local.stack.function_url import function_url_event

SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"
SECRET_KEY = base64.b64decode("plJ3nmyCDGBKInavdOK15jsl")
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-24-byte").decode()
OTHER_KEY = base64.b64decode(OTHER_SECRET[len("whsec_") :])
BASE_MS = 1_732_000_000_000
_ids = itertools.count(1)


def fresh_id(prefix: str) -> str:
    """A unique Clerk-style id."""
    return f"{prefix}_{next(_ids):06d}{int(time.time() * 1000) % 100000:05d}"


def user(
    user_id: str,
    updated_at: int,
    *,
    email: str | None = "ann@example.com",
    first_name: str = "Ann",
    phone: str | None = "+15550100",
) -> dict[str, Any]:
    """A UserJSON payload."""
    emails = (
        [
            {
                "id": f"idn_{user_id}",
                "object": "email_address",
                "email_address": email,
                "verification": {"status": "verified", "strategy": "email_code"},
            }
        ]
        if email
        else []
    )
    phones = [{"id": f"idp_{user_id}", "object": "phone_number", "phone_number": phone}] if phone else []
    return {
        "object": "user",
        "id": user_id,
        "username": None,
        "first_name": first_name,
        "last_name": "Lee",
        "image_url": "https://img.clerk.com/x",
        "has_image": False,
        "primary_email_address_id": emails[0]["id"] if emails else None,
        "email_addresses": emails,
        "primary_phone_number_id": phones[0]["id"] if phones else None,
        "phone_numbers": phones,
        "external_id": None,
        "public_metadata": {"plan": "pro", "seats": 3},
        "private_metadata": {},
        "unsafe_metadata": {},
        "banned": False,
        "locked": False,
        "last_sign_in_at": None,
        "last_active_at": updated_at,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def organization(org_id: str, updated_at: int, *, name: str = "Acme", slug: str = "acme") -> dict[str, Any]:
    """An OrganizationJSON payload."""
    return {
        "object": "organization",
        "id": org_id,
        "name": name,
        "slug": slug,
        "image_url": None,
        "has_image": False,
        "members_count": 1,
        "pending_invitations_count": 0,
        "max_allowed_memberships": 5,
        "admin_delete_enabled": True,
        "public_metadata": {},
        "private_metadata": {},
        "created_by": "user_x",
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def membership(org_id: str, user_id: str, updated_at: int, *, role: str = "org:member") -> dict[str, Any]:
    """An OrganizationMembershipJSON payload."""
    return {
        "object": "organization_membership",
        "id": f"orgmem_{org_id}_{user_id}",
        "role": role,
        "role_name": role.split(":")[-1],
        "permissions": ["org:sys_memberships:read"],
        "public_metadata": {},
        "private_metadata": {},
        "organization": organization(org_id, updated_at),
        "public_user_data": {
            "user_id": user_id,
            "first_name": "Ann",
            "last_name": "Lee",
            "image_url": None,
            "identifier": "ann@example.com",
        },
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def session(session_id: str, user_id: str, updated_at: int, *, status: str = "active") -> dict[str, Any]:
    """A SessionJSON payload (with the user, as Clerk sends it)."""
    return {
        "object": "session",
        "id": session_id,
        "user_id": user_id,
        "client_id": "client_1",
        "status": status,
        "last_active_organization_id": None,
        "actor": None,
        "latest_activity": {
            "device_type": "Macintosh",
            "browser_name": "Chrome",
            "ip_address": "203.0.113.9",
            "city": "Berlin",
            "country": "DE",
        },
        "last_active_at": updated_at,
        "expire_at": updated_at + 7 * 86_400_000,
        "abandon_at": updated_at + 30 * 86_400_000,
        "created_at": BASE_MS,
        "updated_at": updated_at,
        "user": user(user_id, updated_at),
    }


def invitation(
    invitation_id: str, org_id: str, updated_at: int, *, status: str = "pending", user_id: str | None = None
) -> dict[str, Any]:
    """An OrganizationInvitationJSON payload (`user_id` once accepted)."""
    data: dict[str, Any] = {
        "object": "organization_invitation",
        "id": invitation_id,
        "email_address": f"{invitation_id}@example.com",
        "role": "org:member",
        "role_name": "Member",
        "organization_id": org_id,
        "public_organization_data": {"id": org_id, "name": "Acme", "slug": "acme", "has_image": False},
        "status": status,
        "public_metadata": {},
        "private_metadata": {},
        "url": f"https://accounts.example.com/sign-up?__clerk_ticket=tkt_{invitation_id}",
        "expires_at": BASE_MS + 30 * 86_400_000,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }
    if user_id is not None:
        data["user_id"] = user_id
    return data


def role(
    role_id: str, updated_at: int, *, key: str = "org:editor", permissions: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A RoleJSON payload with its permissions."""
    return {
        "object": "role",
        "id": role_id,
        "key": key,
        "name": key.split(":")[-1].title(),
        "description": None,
        "is_creator_eligible": False,
        "permissions": [permission(f"perm_{p}", updated_at, key=p) for p in permissions],
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def permission(permission_id: str, updated_at: int, *, key: str = "org:docs:read") -> dict[str, Any]:
    """A PermissionJSON payload."""
    return {
        "object": "permission",
        "id": permission_id,
        "key": key,
        "name": key,
        "description": "Read documents",
        "type": "user",
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def domain(
    domain_id: str, org_id: str, updated_at: int, *, name: str = "acme.example", verified: bool = True
) -> dict[str, Any]:
    """An OrganizationDomainJSON payload."""
    return {
        "object": "organization_domain",
        "id": domain_id,
        "name": name,
        "organization_id": org_id,
        "enrollment_mode": "automatic_invitation",
        "verification": {
            "status": "verified" if verified else "unverified",
            "strategy": "email_code",
            "attempts": 1,
            "expires_at": None,
        },
        "affiliation_email_address": "it@acme.example",
        "total_pending_invitations": 0,
        "total_pending_suggestions": 0,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def waitlist_entry(entry_id: str, updated_at: int, *, status: str = "pending") -> dict[str, Any]:
    """A WaitlistEntryJSON payload."""
    return {
        "object": "waitlist_entry",
        "id": entry_id,
        "email_address": f"{entry_id}@example.com",
        "status": status,
        "invitation": {"object": "invitation", "id": f"inv_{entry_id}"} if status == "invited" else None,
        "is_locked": False,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def payer(owner_id: str) -> dict[str, Any]:
    """A billing payer: the user or organization `owner_id` names (Clerk sends the other id as "")."""
    of_org = owner_id.startswith("org_")
    owner = {"organization_id": owner_id if of_org else "", "user_id": "" if of_org else owner_id}
    return {"object": "commerce_payer", "id": f"cpayer_{owner_id}", **owner}


def billing_plan(slug: str = "pro", features: tuple[str, ...] = ("seats", "sso")) -> dict[str, Any]:
    """A billing plan with its features."""
    return {
        "object": "commerce_plan",
        "id": f"cplan_{slug}",
        "name": slug.title(),
        "slug": slug,
        "is_default": False,
        "for_payer_type": "user",
        "features": [
            {"object": "feature", "id": f"feat_{f}", "name": f.upper(), "slug": f} for f in features
        ],
    }


def subscription(
    subscription_id: str, owner_id: str, updated_at: int, *, status: str = "active"
) -> dict[str, Any]:
    """A billing subscription payload."""
    return {
        "object": "commerce_subscription",
        "id": subscription_id,
        "status": status,
        "payer_id": f"cpayer_{owner_id}",
        "payer": payer(owner_id),
        "items": [],
        "latest_payment_id": None,
        "payment_source_id": None,
        "active_at": BASE_MS,
        "canceled_at": updated_at if status == "canceled" else None,
        "ended_at": None,
        "past_due_at": updated_at if status == "past_due" else None,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def subscription_item(
    item_id: str, owner_id: str, *, status: str = "active", plan: str = "pro"
) -> dict[str, Any]:
    """A billing subscription item payload (it has no updated_at: its events' timestamps order it)."""
    return {
        "object": "commerce_subscription_item",
        "id": item_id,
        "status": status,
        "plan_period": "month",
        "period_start": BASE_MS,
        "period_end": BASE_MS + 30 * 86_400_000,
        "canceled_at": None,
        "past_due_at": None,
        "plan_id": f"cplan_{plan}",
        "plan": billing_plan(plan),
        "payer": payer(owner_id),
        "lifetime_paid": {"amount": 1000, "currency": "USD"},
        "amount": {"amount": 1000, "currency": "USD"},
    }


def payment_attempt(
    attempt_id: str,
    owner_id: str,
    updated_at: int,
    *,
    status: str = "paid",
    item_ids: tuple[str, ...] = ("csubi_1",),
) -> dict[str, Any]:
    """A billing payment attempt payload."""
    return {
        "object": "commerce_payment_attempt",
        "id": attempt_id,
        "status": status,
        "payment_id": f"pay_{attempt_id}",
        "statement_id": "stmt_1",
        "charge_type": "recurring",
        "payer": payer(owner_id),
        "payee": {"id": "payee_1"},
        "totals": {"grand_total": {"amount": 1000, "currency": "USD"}},
        "payment_source": {"card_type": "visa", "last4": "4242"},
        "subscription_items": [{"id": item_id} for item_id in item_ids],
        "billing_date": updated_at,
        "paid_at": updated_at if status == "paid" else None,
        "failed_at": updated_at if status == "failed" else None,
        "failed_reason": {"code": "card_declined", "decline_code": "insufficient_funds"}
        if status == "failed"
        else None,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }


def envelope(event_type: str, data: dict[str, Any], timestamp: int | None = None) -> dict[str, Any]:
    """The Clerk event envelope."""
    out: dict[str, Any] = {
        "object": "event",
        "type": event_type,
        "instance_id": "ins_test",
        "data": data,
        "event_attributes": {"http_request": {"client_ip": "203.0.113.9", "user_agent": "Mozilla/5.0"}},
    }
    if timestamp is not None:
        out["timestamp"] = timestamp
    return out


def lambda_event(
    body: bytes,
    headers: dict[str, str],
    *,
    method: str = "POST",
    path: str = "/webhooks/clerk",
    base64_body: bool = False,
) -> dict[str, Any]:
    """The payload-v2 event a Function URL (or HTTP API) hands to the function: the local stack's own
    builder (stack/function_url.py), with the body base64-encoded when asked."""
    sent = {**headers, "content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"}
    event = function_url_event(method, path, sent.items(), body, "198.51.100.7")
    if base64_body:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def signed(
    payload: dict[str, Any] | bytes,
    *,
    svix_id: str | None = None,
    timestamp: int | None = None,
    key: bytes = SECRET_KEY,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A correctly signed delivery of `payload`."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = svix_id or fresh_id("msg")
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sign(key, msg_id, ts, body)}
    return lambda_event(body, headers, base64_body=base64_body)


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status code and parsed JSON body of a handler response."""
    return response["statusCode"], json.loads(response["body"])


def welcome_message(to: str, svix_id: str, user_id: str, first_name: str | None = "Ann") -> str:
    """The body of the welcome_email message the receiver queues for a user.created."""
    data = {"id": user_id, "first_name": first_name}
    event = Event(svix_id=svix_id, type="user.created", data=data, occurred_at=BASE_MS)
    return json.dumps(effects.welcome_email(event, to))
