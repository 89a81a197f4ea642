"""Publishing the change feed's events: EventBridge PutEvents, in calls of at most 10 entries and 256 KB,
with the entries a call refused (`FailedEntryCount`) or a failed call's entries sent again, with a
growing pause, until they are all in or the invocation's deadline comes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clerk_sync.domain.changes import MAX_ENTRY_BYTES, SOURCE, entry_bytes
from clerk_sync.domain.deadline import Deadline
from clerk_sync.observability import logger

MAX_ENTRIES = 10  # PutEvents' limit per call
FIRST_PAUSE = 0.2  # s before the first resend; doubled each time, up to MAX_PAUSE
MAX_PAUSE = 5.0


@dataclass(frozen=True)
class Entry:
    """One event for the bus: its detail-type, detail (JSON text) and time."""

    detail_type: str
    detail: str
    time: float | None = None  # seconds since the epoch (the write's, from the stream record)

    @property
    def size(self) -> int:
        """EventBridge's measure of the entry."""
        return entry_bytes(self.detail_type, self.detail)


class EventBus:
    """PutEvents on one bus."""

    def __init__(self, client: Any, bus_name: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._bus_name = bus_name
        self._sleep = sleep

    def put(self, entries: Sequence[Entry], deadline: Deadline) -> set[int]:
        """Publish every entry; the positions of those still not accepted when the deadline comes."""
        pending = list(range(len(entries)))
        pause = FIRST_PAUSE
        while True:
            refused: list[int] = []
            for call in _calls(entries, pending):
                refused += self._put_call(entries, call)
            pending = refused
            if not pending or deadline.reached_by(pause):
                return set(pending)
            logger.warning("change events refused, sending them again", extra={"entries": len(pending)})
            self._sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    def _put_call(self, entries: Sequence[Entry], positions: list[int]) -> list[int]:
        """One PutEvents call; the positions it did not accept."""
        try:
            answer = self._client.put_events(Entries=[self._entry(entries[i]) for i in positions])
        except (BotoCoreError, ClientError) as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            logger.warning("PutEvents failed", extra={"error": code, "entries": len(positions)})
            return positions
        results = answer.get("Entries") or []
        if len(results) != len(positions):  # an answer that does not say: every entry again
            return positions
        refused = [i for i, result in zip(positions, results, strict=True) if result.get("ErrorCode")]
        if refused:
            codes = sorted({str(r.get("ErrorCode")) for r in results if r.get("ErrorCode")})
            logger.warning("PutEvents refused entries", extra={"error": codes, "entries": len(refused)})
        return refused

    def _entry(self, entry: Entry) -> dict[str, Any]:
        made: dict[str, Any] = {
            "Source": SOURCE,
            "DetailType": entry.detail_type,
            "Detail": entry.detail,
            "EventBusName": self._bus_name,
        }
        if entry.time is not None:
            made["Time"] = entry.time
        return made


def _calls(entries: Sequence[Entry], positions: list[int]) -> list[list[int]]:
    """The positions split into calls of at most 10 entries and 256 KB, in order."""
    calls: list[list[int]] = []
    size = 0
    for position in positions:
        entry_size = entries[position].size
        if not calls or len(calls[-1]) == MAX_ENTRIES or size + entry_size > MAX_ENTRY_BYTES:
            calls.append([])
            size = 0
        calls[-1].append(position)
        size += entry_size
    return calls
