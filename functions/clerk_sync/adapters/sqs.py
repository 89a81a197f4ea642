"""Handing side effects to the SideEffects queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from clerk_sync.adapters.dynamodb.payloads import INLINE_LIMIT_BYTES, PayloadStore
from clerk_sync.domain.effects import EFFECT_KINDS, Effect, effect_key

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SideEffectsQueue:
    """Sends effect messages (any failure raises: the delivery answers 5xx and is retried); hands back
    received ones for later."""

    def __init__(self, client: SQSClient, queue_url: str, payloads: PayloadStore | None = None) -> None:
        """`payloads`: where bodies too large for a message go (None: such a send fails)."""
        self._client = client
        self._queue_url = queue_url
        self._payloads = payloads

    def send(self, effect: Effect) -> None:
        """Queue one effect message (its body spilled to the payload store when too large)."""
        body = json.dumps(effect, separators=(",", ":"))
        if len(body) > INLINE_LIMIT_BYTES and self._payloads is not None:  # ASCII: characters are bytes
            target_field = EFFECT_KINDS[effect["kind"]].target_field
            fields: Mapping[str, object] = effect
            target = fields[target_field]
            key = effect_key(effect["kind"], effect["svix_id"], str(target))
            reference = {
                "kind": effect["kind"],
                "svix_id": effect["svix_id"],
                target_field: target,
                "spilled": self._payloads.spill(key, body),
            }
            body = json.dumps(reference, separators=(",", ":"))
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            DelaySeconds=0 if "part" in effect else EFFECT_KINDS[effect["kind"]].delay_seconds,
        )

    def hand_back(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again only after `delay_seconds` (a throttled e-mail)."""
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_seconds
        )
