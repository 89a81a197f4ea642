"""`clerk_sync.adapters.dynamodb.values.deserialize`: boto3's deserializer with numbers read exactly,
alone, in number sets, maps and lists (boto3's own raises decimal.Rounded for what DynamoDB returns)."""

from __future__ import annotations

from decimal import Decimal, Rounded

import pytest
from boto3.dynamodb.types import TypeDeserializer
from clerk_sync.adapters.dynamodb.values import deserialize

DIGITS = "6391608280039089" + "0" * 90  # 6.391608280039089e105 as DynamoDB returns it


def test_boto3s_deserializer_cannot_read_what_dynamodb_returns():
    with pytest.raises(Rounded):
        TypeDeserializer().deserialize({"N": DIGITS})


def test_every_number_is_the_exact_decimal_of_its_digits():
    value = {"M": {"n": {"N": DIGITS}, "ns": {"NS": [DIGITS, "0.5"]}, "l": {"L": [{"N": "-1E-130"}]}}}
    assert deserialize(value) == {
        "n": Decimal(DIGITS),
        "ns": {Decimal(DIGITS), Decimal("0.5")},
        "l": [Decimal("-1E-130")],
    }
    assert int(deserialize({"N": DIGITS})) == int(DIGITS)


def test_other_types_are_read_as_boto3_reads_them():
    value = {"M": {"s": {"S": "x"}, "b": {"BOOL": True}, "z": {"NULL": True}, "ss": {"SS": ["a"]}}}
    assert deserialize(value) == TypeDeserializer().deserialize(value)
