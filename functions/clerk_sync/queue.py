"""Handing side effects to the SideEffects queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from clerk_sync.effects import Effect
from clerk_sync.messages import KINDS, effect_key
from clerk_sync.payloads import INLINE_LIMIT_BYTES, PayloadStore

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


# Clean-ups find children through global secondary indexes, which lag behind writes (usually well under a
# second). Delaying clean-up messages lets a membership written just before the parent's deletion
# reach the index before the clean-up reads it.
DELAY_SECONDS = {"user_cleanup": 5, "organization_cleanup": 5}
# A clean-up's continuations (messages with a `part`) go at once: the index caught up before part 1.


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
            target_field = KINDS[effect["kind"]][0]
            key = effect_key(effect["kind"], effect["svix_id"], effect[target_field])
            reference = {
                "kind": effect["kind"],
                "svix_id": effect["svix_id"],
                target_field: effect[target_field],
                "spilled": self._payloads.spill(key, body),
            }
            body = json.dumps(reference, separators=(",", ":"))
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            DelaySeconds=0 if "part" in effect else DELAY_SECONDS.get(effect["kind"], 0),
        )

    def hand_back(self, receipt_handle: str, delay_seconds: int) -> None:
        """Make a received message visible again only after `delay_seconds` (a throttled e-mail)."""
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_seconds
        )
