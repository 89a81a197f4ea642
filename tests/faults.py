"""Seeded fault injection through botocore event hooks: throttles, timeouts, failed sends, crashes."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


class Crash(BaseException):
    """The process dying: no `except Exception` of the function runs, nothing is cleaned up."""


@dataclass
class Faults:
    """Decides, reproducibly from one seed, which AWS calls fail and how."""

    seed: int
    throttle: float = 0.02  # DynamoDB refuses the call (throttled after the SDK's retries)
    timeout_after: float = 0.02  # DynamoDB applied the call but the client timed out
    send_failure: float = 0.03  # SQS refuses the message
    crash_before_record: float = 0.02  # the handler dies between the entity write and the idempotency update
    worker_crash: float = 0.03  # the worker dies between two messages of a batch
    injected: Counter[str] = field(default_factory=Counter)
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def _roll(self, probability: float, name: str) -> bool:
        with self._lock:
            hit = self._random.random() < probability
            if hit:
                self.injected[name] += 1
            return hit

    def receiver_hooks(self) -> list[tuple[str, Any]]:
        """Hooks for a WebhookFunction container."""

        def before_dynamodb(model: Any, **_: Any) -> None:
            if model.name == "UpdateItem" and self._roll(self.crash_before_record, "crash before record"):
                raise Crash
            if self._roll(self.throttle, "dynamodb throttled"):
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                    model.name,
                )

        def after_dynamodb(model: Any, **_: Any) -> None:
            if self._roll(self.timeout_after, "dynamodb timeout after write"):
                raise ReadTimeoutError(endpoint_url="injected")

        def before_send(model: Any, **_: Any) -> None:
            if self._roll(self.send_failure, "sqs send failed"):
                raise ClientError(
                    {"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, model.name
                )

        return [
            ("before-call.dynamodb", before_dynamodb),
            ("after-call.dynamodb", after_dynamodb),
            ("before-call.sqs.SendMessage", before_send),
        ]

    def worker_hooks(self) -> list[tuple[str, Any]]:
        """Hooks for a SideEffectsFunction container: it dies as it starts the next message."""

        def before_put(model: Any, params: dict[str, Any], **_: Any) -> None:
            starting_a_message = "clerk-sync.effect#" in str(params.get("Item", {}).get("id", ""))
            if starting_a_message and self._roll(self.worker_crash, "worker crash mid-batch"):
                raise Crash

        return [("before-call.dynamodb.PutItem", before_put)]
