"""DynamoDB stream records as Lambda delivers them: which table, the images as Python values, where
in the shard.

Lambda hands the function JSON: a binary attribute (the complete object `clerk`) arrives as base64 text,
`{"B": "eJy…"}`, not as the bytes boto3 returns from GetRecords; both are read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clerk_sync.adapters.dynamodb.values import deserialize


class UnreadableRecordError(ValueError):
    """A record that is not a DynamoDB stream record of a table."""


@dataclass(frozen=True)
class StreamRecord:
    """One write of a table: the images before and after (None: absent), in the shard's order."""

    table_name: str
    sequence_number: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    written_at: float | None  # ApproximateCreationDateTime, seconds since the epoch


def read_record(record: Mapping[str, Any]) -> StreamRecord:
    """The write a Lambda stream record describes (UnreadableRecordError: it does not)."""
    body = record.get("dynamodb")
    arn = record.get("eventSourceARN")
    if not isinstance(body, Mapping) or not isinstance(arn, str) or "SequenceNumber" not in body:
        raise UnreadableRecordError("not a DynamoDB stream record")
    written_at = body.get("ApproximateCreationDateTime")
    return StreamRecord(
        table_name=table_name_of(arn),
        sequence_number=str(body["SequenceNumber"]),
        old=_image(body.get("OldImage")),
        new=_image(body.get("NewImage")),
        written_at=float(written_at) if isinstance(written_at, int | float) else None,
    )


def table_name_of(stream_arn: str) -> str:
    """The table of a stream ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`)."""
    _, _, resource = stream_arn.partition(":table/")
    name = resource.split("/stream/")[0]
    if not name:
        raise UnreadableRecordError("not a DynamoDB stream ARN")
    return name


def _image(image: Any) -> dict[str, Any] | None:
    if not isinstance(image, Mapping):
        return None
    try:
        return {str(name): deserialize(_binaries_as_bytes(value)) for name, value in image.items()}
    except (TypeError, ValueError, AttributeError) as error:
        raise UnreadableRecordError(f"an image that is not DynamoDB JSON ({type(error).__name__})") from None


def _binaries_as_bytes(value: Any) -> Any:
    """An attribute value with Lambda's base64 text for B and BS decoded, at any depth (M, L)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    [(kind, inner)] = value.items()
    if kind == "B":
        return {"B": _decoded(inner)}
    if kind == "BS" and isinstance(inner, list):
        return {"BS": [_decoded(item) for item in inner]}
    if kind == "M" and isinstance(inner, Mapping):
        return {"M": {name: _binaries_as_bytes(item) for name, item in inner.items()}}
    if kind == "L" and isinstance(inner, list):
        return {"L": [_binaries_as_bytes(item) for item in inner]}
    return value


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise UnreadableRecordError("a binary attribute that is not base64") from None
    return value  # bytes already (a record built from boto3's GetRecords answer)
