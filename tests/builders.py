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
