"""Svix (Standard Webhooks v1) signature verification on the standard library.

Accepts and rejects exactly what `svix.webhooks.Webhook(secret).verify` does for each of the
configured secrets (a differential test holds us to that), without importing svix's API client,
which costs more than half a second of cold start.
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
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    timestamp = parse_timestamp(headers.timestamp, time.time() if now is None else now)
    try:
        # svix encodes the message id strictly: an id with a lone surrogate can never verify
        signed = f"{headers.msg_id}.{timestamp}.".encode() + body
    except UnicodeEncodeError:
        raise SignatureError("svix-id is not valid UTF-8") from None
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    for entry in headers.signature.split(" "):
        parts = entry.split(",")
        if len(parts) != 2:
            raise SignatureError("malformed signature header")
        version, encoded = parts
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded)
        except ValueError:
            raise SignatureError("malformed signature header") from None
        if any(hmac.compare_digest(digest, candidate) for digest in expected):
            return timestamp
    raise SignatureError("no matching signature")
