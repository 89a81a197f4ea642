"""Cost per million deliveries, from measured figures and public us-east-1 prices (see aws-notes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LAMBDA_PER_MILLION = 0.20
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64
HTTP_API_PER_MILLION = 1.00
FUNCTION_URL_PER_MILLION = 0.0
WRITE_UNIT_PER_MILLION = 0.625
SQS_PER_MILLION = 0.40
# a write costs one unit per started KB of the item it writes (a put's measured from its request; the
# updates and deletes this app makes are of items under 1 KB: the idempotency record, a tombstone's
# key); a transaction costs twice that for each item it writes, and two per item it checks
WRITE_UNIT_BYTES = 1024
WRITE_UNITS = {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1, "dynamodb.DeleteItem": 1}
TRANSACTION_UNITS_PER_ITEM = 2
UNITS_TEXT = (
    "measured from the requests above, with Clerk's complete object as deployed by default (a put costs "
    "one unit per started KB of its item: the record sizes per type are above; the idempotency record's "
    "put and update one each; a transaction twice the units of each item it writes and 2 per item it "
    "checks: at least 6 for a membership, its user and organization checked, 4 for a record with one "
    "parent)"
)
SQS_REQUESTS_PER_MESSAGE = 3  # send, receive, delete


@dataclass(frozen=True)
class Cost:
    """Dollars per million deliveries of one event type."""

    lambda_usd: float
    dynamodb_usd: float
    sqs_usd: float

    def total(self, front_door_per_million: float) -> float:
        """With the HTTP API or the Function URL in front."""
        return self.lambda_usd + self.dynamodb_usd + self.sqs_usd + front_door_per_million


def attribute_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value in a request's form (`{"S": …}`, `{"B": …}`, …): strings
    and names in UTF-8 bytes, binary in bytes, a number by its digits (an upper bound), containers with
    their 3-byte overhead and a byte per element."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return len(inner) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + 1 + attribute_bytes(v) for name, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(v) for v in inner)
    if kind in ("SS", "NS"):
        return sum(len(v.encode("utf-8")) + (kind == "NS") for v in inner)
    return sum(len(v) for v in inner)  # BS


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name and value."""
    return sum(len(name.encode("utf-8")) + attribute_bytes(value) for name, value in item.items())


def item_units(size: int) -> int:
    """The write units of writing an item of `size` bytes: one per started KB."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def write_units(operation: str, params: dict[str, Any]) -> int:
    """The DynamoDB write units of one request (`service.Operation` and its parameters), a put's from
    the size of the item it writes."""
    if operation == "dynamodb.TransactWriteItems":
        return TRANSACTION_UNITS_PER_ITEM * sum(
            item_units(item_bytes(action["Put"]["Item"])) if "Item" in action.get("Put", {}) else 1
            for action in params["TransactItems"]
        )
    if operation == "dynamodb.PutItem" and "Item" in params:
        return item_units(item_bytes(params["Item"]))
    return WRITE_UNITS.get(operation, 0)


def per_million(calls: dict[str, float], units: float, duration_ms: float, memory_mb: int) -> Cost:
    """Lambda requests + duration (billed per ms), DynamoDB write units per delivery, SQS requests."""
    gb_seconds = duration_ms / 1000 * memory_mb / 1024
    lambda_usd = LAMBDA_PER_MILLION + gb_seconds * LAMBDA_PER_GB_SECOND * 1_000_000
    messages = calls.get("sqs.SendMessage", 0.0)
    return Cost(
        lambda_usd, units * WRITE_UNIT_PER_MILLION, messages * SQS_REQUESTS_PER_MESSAGE * SQS_PER_MILLION
    )
