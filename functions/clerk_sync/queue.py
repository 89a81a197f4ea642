"""Handing side effects to the SideEffects queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from clerk_sync.effects import Effect

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


# Clean-ups find children through global secondary indexes, which lag behind writes (usually well under a
# second). Delaying clean-up messages lets a membership written just before the parent's deletion
# reach the index before the clean-up reads it.
DELAY_SECONDS = {"user_cleanup": 5, "organization_cleanup": 5}
# A clean-up's continuations (messages with a `part`) go at once: the index caught up before part 1.


class SideEffectsQueue:
    """Sends effect messages; any failure raises, so the delivery answers 5xx and is retried."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, effect: Effect) -> None:
        """Queue one effect message."""
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(effect, separators=(",", ":")),
            DelaySeconds=0 if "part" in effect else DELAY_SECONDS.get(effect["kind"], 0),
        )
