"""Svix (Standard Webhooks v1) signature verification on the standard library.

Accepts and rejects exactly what `svix.webhooks.Webhook(secret).verify` does for each of the
configured secrets, as the reference library pinned in the lock (`standardwebhooks` 1.3.0, under
svix 2.9) does it: a differential test holds us to that. Without importing svix's API client, which
costs more than half a second of cold start.

As the reference: the signature covers the body's raw bytes (whether they are UTF-8 is a question
for the payload, not the signature), and the header is a space-separated list of entries, any one
of which may equal `v1,<base64 of the HMAC>` exactly; entries that are malformed, of another
scheme, or of another key simply do not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOLERANCE = timedelta(minutes=5)


class MissingHeadersError(Exception):
    """A required svix header is absent or empty (answer 400)."""


class SignatureError(Exception):
    """The signature, timestamp or signature header is invalid (answer 401)."""


@dataclass(frozen=True)
class SvixHeaders:
    """The three delivery headers, as received."""

    msg_id: str
    timestamp: str
    signature: str


def read_headers(headers: Mapping[str, str]) -> SvixHeaders:
    """Pick the svix headers (falling back to the Standard Webhooks names, as svix does)."""
    lowered = {k.lower(): v for k, v in headers.items()}

    def pick(name: str) -> str:
        return lowered.get(f"svix-{name}", lowered.get(f"webhook-{name}", ""))

    found = SvixHeaders(msg_id=pick("id"), timestamp=pick("timestamp"), signature=pick("signature"))
    missing = [
        n
        for n, v in (("id", found.msg_id), ("timestamp", found.timestamp), ("signature", found.signature))
        if not v
    ]
    if missing:
        raise MissingHeadersError("missing svix-" + ", svix-".join(missing))
    return found


def parse_timestamp(raw: str, now: float) -> int:
    """The attempt time in whole seconds, if within the tolerance of `now` (svix's exact arithmetic)."""
    try:
        moment = datetime.fromtimestamp(float(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("invalid timestamp") from None
    current = datetime.fromtimestamp(now, tz=UTC)
    if moment < current - TOLERANCE:
        raise SignatureError("timestamp too old")
    if moment > current + TOLERANCE:
        raise SignatureError("timestamp too new")
    return math.floor(moment.timestamp())


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of a message (used by tests and the local sender)."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(keys: Sequence[bytes], headers: SvixHeaders, body: bytes, now: float | None = None) -> int:
    """Check the signature against every key; returns the svix timestamp (s) or raises SignatureError."""
    timestamp = parse_timestamp(headers.timestamp, time.time() if now is None else now)
    try:
        # svix encodes the message id strictly: an id with a lone surrogate can never verify
        expected = [sign(key, headers.msg_id, timestamp, body).encode() for key in keys]
    except UnicodeEncodeError:
        raise SignatureError("svix-id is not valid UTF-8") from None
    for entry in headers.signature.split(" "):
        try:
            candidate = entry.encode()
        except UnicodeEncodeError:
            # the reference encodes each entry in turn: one it cannot encode ends the check
            raise SignatureError("malformed signature header") from None
        if any(hmac.compare_digest(digest, candidate) for digest in expected):
            return timestamp
    raise SignatureError("no matching signature")
