"""Seeded fault injection through botocore event hooks: throttles, timeouts, failed sends, crashes.

Faults are transient, as real outages are: one delivery (a svix id) meets at most `budget` faulted
attempts, and one SQS message at most `budget` crashed batches. A message that failed every attempt
for Svix's whole ~28 h schedule is Svix's "failed" message, which backfill and reconcile repair; the
chaos run proves convergence for everything Svix does deliver, so it must not starve a delivery by
chance (unbounded, with about one attempt in five faulted, CI's seed 3652012201 had a message fail
all eight attempts).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


class Crash(BaseException):
    """The process dying: no `except Exception` of the function runs, nothing is cleaned up."""


Container = Callable[[dict[str, Any], Any], Any]


@dataclass
class Faults:
    """Decides, reproducibly from one seed, which AWS calls fail and how."""

    KINDS = (
        "dynamodb throttled",
        "dynamodb timeout after write",
        "sqs send failed",
        "crash before record",
        "worker crash mid-batch",
    )

    seed: int
    throttle: float = 0.02  # DynamoDB refuses the call (throttled after the SDK's retries)
    timeout_after: float = 0.02  # DynamoDB applied the call but the client timed out
    send_failure: float = 0.05  # SQS refuses the message (few sends: a higher rate keeps it seen)
    crash_before_record: float = 0.02  # the handler dies between the entity write and the idempotency update
    worker_crash: float = 0.06  # the worker dies between two messages of a batch (≈200 effect
    # messages in 2,000 events: ≈12 crashes expected; at 0.03 CI's seed 335525783 drew none)
    budget: int = 3  # faulted attempts per delivery, crashed batches per SQS message
    injected: Counter[str] = field(default_factory=Counter)
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _spent: Counter[str] = field(default_factory=Counter)  # faulted attempts per delivery or message
    _current: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @contextmanager
    def _attempt(self, keys: list[str]) -> Iterator[None]:
        """One invocation on behalf of these deliveries or messages: it may fault only while all of
        them have budget left, and a fault is charged to each of them once."""
        self._current.keys, self._current.faulted = keys, False
        try:
            yield
        finally:
            self._current.keys = []

    def _roll(self, probability: float, name: str) -> bool:
        keys: list[str] = getattr(self._current, "keys", [])
        with self._lock:
            if any(self._spent[k] >= self.budget for k in keys):
                return False
            hit = self._random.random() < probability
            if hit:
                self.injected[name] += 1
                if keys and not self._current.faulted:
                    self._current.faulted = True
                    self._spent.update(keys)
            return hit

    def receiver(self, container: Container) -> Container:
        """A WebhookFunction container whose faults count against the delivery's svix id."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            with self._attempt([f"svix:{headers.get('svix-id', '')}"]):
                return container(event, context)

        return invoke

    def worker(self, container: Container) -> Container:
        """A SideEffectsFunction container whose crashes count against every message of the batch."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with self._attempt([f"sqs:{r['messageId']}" for r in event.get("Records", [])]):
                return container(event, context)

        return invoke

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

        def before_put(params: dict[str, Any], **_: Any) -> None:
            starting_a_message = "clerk-sync.effect#" in str(params.get("Item", {}).get("id", ""))
            if starting_a_message and self._roll(self.worker_crash, "worker crash mid-batch"):
                raise Crash

        # before-parameter-build sees the call's own parameters (before-call sees the serialized request)
        return [("before-parameter-build.dynamodb.PutItem", before_put)]
