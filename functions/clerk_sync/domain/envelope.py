"""The Clerk event envelope: parsing a verified body into an `Event`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clerk_sync.domain.names import is_event_type

# Clerk documents envelope timestamps in milliseconds, but some examples carry seconds: any value
# below this bound (a date in 1973 when read as ms, in year 5138 as seconds) is taken as seconds.
SECONDS_BOUND = 100_000_000_000


class MalformedEventError(Exception):
    """A verified body that is not a Clerk event envelope (answer 400)."""


class _InexactNumberError(ValueError):
    pass


def _exact_float(text: str) -> float:
    """A JSON number with a fraction or exponent as a float, only if the float is that number: one
    with more digits than a double keeps (over 17 significant), or beyond its range (1e-400, 1e400),
    is refused rather than stored changed."""
    value = float(text)
    if not math.isfinite(value) or Decimal(repr(value)) != Decimal(text):
        raise _InexactNumberError
    return value


@dataclass(frozen=True)
class Event:
    """A verified Clerk event."""

    svix_id: str
    type: str
    data: dict[str, Any]
    occurred_at: int  # ms: the envelope timestamp, or the svix attempt time when absent

    def field(self, name: str) -> Any:
        """A top-level field of `data` (None when absent)."""
        return self.data.get(name)


def to_millis(value: object) -> int | None:
    """Normalise a seconds-or-milliseconds number to ms; None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value * 1000) if abs(value) < SECONDS_BOUND else int(value)


def parse_event(body: bytes, svix_id: str, svix_timestamp: int) -> Event:
    """Parse a verified body; raises MalformedEventError when it is not an event envelope.

    JSON exchanged between systems is UTF-8 (RFC 8259 §8.1): a body in any other encoding, or not
    valid UTF-8, is a payload problem even when its signature is good (json.loads alone would also
    take UTF-16 and UTF-32)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEventError("body is not UTF-8") from None
    try:
        envelope = json.loads(text, parse_float=_exact_float)
    except _InexactNumberError:
        raise MalformedEventError("body: a number that cannot be kept as sent (at most 17 digits)") from None
    except (ValueError, RecursionError):
        raise MalformedEventError("body is not JSON") from None
    if not isinstance(envelope, dict):
        raise MalformedEventError("body is not a JSON object")
    event_type = envelope.get("type")
    data = envelope.get("data")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEventError("missing string 'type'")
    if not is_event_type(event_type):  # it is echoed and logged: only a name of Clerk's shape
        raise MalformedEventError("type: not an event type name")
    if not isinstance(data, dict):
        raise MalformedEventError("missing object 'data'")
    occurred_at = to_millis(envelope.get("timestamp"))
    return Event(
        svix_id=svix_id,
        type=event_type,
        data=data,
        occurred_at=occurred_at if occurred_at is not None else svix_timestamp * 1000,
    )
