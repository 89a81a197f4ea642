"""Clerk's complete object: what a live record keeps of the object Clerk sent (a webhook's `data`, or the
Backend API's object for backfill and first-use sync), so that an application reads any field, one Clerk
adds after this release included, through `record.clerk`.

Stored compressed in one binary attribute (`tables.CLERK`): zlib of the canonical JSON text (keys
sorted, no spaces, non-ASCII escaped, so any string Clerk sent comes back as sent), numbers as parsed
(the envelope parser refuses any a double cannot keep). Tombstones keep none of it.

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
    return zlib.compress(text.encode("ascii"), LEVEL)


def decompress(stored: bytes) -> Any:
    """The object `compress` stored."""
    return json.loads(zlib.decompress(stored))
