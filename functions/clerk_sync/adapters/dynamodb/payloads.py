"""Effect messages too large for SQS: the body is kept in the idempotency table, compressed, in chunks.

An SQS message holds at most 256 KiB, and a delegated `email.created` may carry an HTML body of
several hundred. Such a message is queued as a small reference (`spilled`: its key, chunk count and
SHA-256) and its body written first, as items `payload#<effect key>#<n>` of at most 300,000 bytes
(DynamoDB's item limit is 400 KB), zlib-compressed, kept as long as an e-mail claim (30 days) so that
a resend still finds it. Writing them again (a retried delivery) rewrites the same items.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from typing import TYPE_CHECKING, Any

from clerk_sync.domain.effects import PoisonMessageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INLINE_LIMIT_BYTES = 240 * 1024  # below SQS's 256 KiB, with room for the request's other parts
CHUNK_BYTES = 300_000
PAYLOAD_TTL_SECONDS = 30 * 24 * 3600
PREFIX = "payload#"


class PayloadStore:
    """Writes and reads spilled message bodies."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def spill(self, key: str, body: str) -> dict[str, Any]:
        """Store `body` under `key`; returns the reference a message carries instead."""
        data = zlib.compress(body.encode("utf-8"), 6)
        chunks = [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]
        expiration = str(int(time.time()) + PAYLOAD_TTL_SECONDS)
        for number, chunk in enumerate(chunks):
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": f"{PREFIX}{key}#{number}"},
                    "data": {"B": chunk},
                    "expiration": {"N": expiration},
                },
            )
        return {"key": key, "chunks": len(chunks), "sha256": hashlib.sha256(data).hexdigest()}

    def load(self, reference: Any) -> str:
        """The body a reference names; PoisonMessageError when it is malformed, gone or corrupt."""
        if not isinstance(reference, dict):
            raise PoisonMessageError("spilled reference is not an object")
        key, chunks, digest = reference.get("key"), reference.get("chunks"), reference.get("sha256")
        if not isinstance(key, str) or not isinstance(chunks, int) or not isinstance(digest, str):
            raise PoisonMessageError("spilled reference without key, chunks or sha256")
        parts = []
        for number in range(chunks):
            item = self._dynamodb.get_item(
                TableName=self._table, Key={"id": {"S": f"{PREFIX}{key}#{number}"}}, ConsistentRead=True
            ).get("Item")
            if item is None:
                raise PoisonMessageError(f"spilled body chunk {number} of {chunks} is gone")
            parts.append(item["data"]["B"])
        data = b"".join(parts)
        if hashlib.sha256(data).hexdigest() != digest:
            raise PoisonMessageError("spilled body does not match its checksum")
        return zlib.decompress(data).decode("utf-8")
