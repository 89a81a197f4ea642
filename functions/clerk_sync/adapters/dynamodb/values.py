"""Attribute values as DynamoDB returns them, as Python values: every stored number readable.

boto3's TypeDeserializer reads a number in a context of 38 digits that traps `Rounded`, but DynamoDB
returns a number with all its digits: 6.391608280039089e105, stored, comes back as a 106-digit integer,
and boto3 raises decimal.Rounded for it, failing every read (a listing, a Scan) that meets the item. The
receiver no longer writes such numbers, but items written before, or by other tools, may hold them.
"""

from __future__ import annotations

from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer


class ExactNumbers(TypeDeserializer):
    """boto3's deserializer, except that a number (alone or in a number set) is the exact Decimal of the
    digits DynamoDB returned: DynamoDB keeps at most 38 significant digits, so nothing is rounded and the
    text is short; no context's precision or traps apply (boto3 calls `_deserialize_n` for N and NS, a
    unit test holds it to that)."""

    def _deserialize_n(self, value: str) -> Decimal:
        return Decimal(value)


deserialize = ExactNumbers().deserialize
"""One attribute value (`{"N": "1"}`, `{"M": …}`) as a Python value, numbers as exact Decimals."""
