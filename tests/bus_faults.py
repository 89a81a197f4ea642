"""Refusals of EventBridge PutEvents, injected into real calls to a local engine through botocore hooks.

- `refuse_entries`: the call goes out without the chosen entries, and its answer lists them as refused
  (ErrorCode "InternalFailure"), as EventBridge reports a partial failure (`FailedEntryCount`): those
  entries never reach the bus.
- `refuse_calls`: the whole call fails (ThrottlingException) while `down` is set: the bus refusing for a
  while.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

Hook = tuple[str, Callable[..., Any]]


@dataclass
class BusFaults:
    """Which PutEvents entries and calls are refused, reproducibly from one seed."""

    seed: int
    entry_refusal: float = 0.0  # chance each entry is refused
    down: threading.Event = field(default_factory=threading.Event)
    refused_entries: int = 0
    refused_calls: int = 0
    _random: random.Random = field(init=False)
    _dropped: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def hooks(self) -> list[Hook]:
        return [
            ("provide-client-params.events.PutEvents", self._before),
            ("after-call.events.PutEvents", self._after),
        ]

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        if self.down.is_set():
            with self._lock:
                self.refused_calls += 1
            error = {"Error": {"Code": "ThrottlingException", "Message": "refused by the test"}}
            raise ClientError(error, "PutEvents")  # type: ignore[arg-type]
        entries = params["Entries"]
        with self._lock:
            dropped = {i for i in range(len(entries)) if self._random.random() < self.entry_refusal}
            if len(dropped) == len(entries):  # a call needs one entry: keep the last one
                dropped.discard(len(entries) - 1)
            self.refused_entries += len(dropped)
        self._dropped.positions = (dropped, len(entries))
        params["Entries"] = [e for i, e in enumerate(entries) if i not in dropped]

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        dropped, total = getattr(self._dropped, "positions", (set(), 0))
        self._dropped.positions = (set(), 0)
        if not dropped:
            return
        accepted = iter(parsed.get("Entries") or [])
        refusal = {"ErrorCode": "InternalFailure", "ErrorMessage": "refused by the test"}
        parsed["Entries"] = [dict(refusal) if i in dropped else next(accepted) for i in range(total)]
        parsed["FailedEntryCount"] = int(parsed.get("FailedEntryCount") or 0) + len(dropped)
