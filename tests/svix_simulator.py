"""A delivery simulator that behaves like Svix: signs each attempt, retries non-2xx on a schedule."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from clerk_sync.domain.signature import sign

# Svix waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the same shape, compressed.
SCHEDULE = (0.05, 0.2, 0.5, 1.0, 2.0, 3.0, 3.0)


@dataclass(frozen=True)
class Message:
    """One Svix message: its id (the same on every attempt) and its body."""

    svix_id: str
    body: bytes


@dataclass
class DeliveryReport:
    """What the endpoint answered, per message."""

    attempts: int = 0
    statuses: list[int] = field(default_factory=list)
    by_message: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # svix id -> (time, status)
    failed: list[str] = field(default_factory=list)  # messages that never got a 2xx
    outcomes: dict[str, str] = field(default_factory=dict)  # svix id -> its first processing's outcome
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, svix_id: str, status: int, answer: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.attempts += 1
            self.statuses.append(status)
            self.by_message.setdefault(svix_id, []).append((time.time(), status))
            outcome = (answer or {}).get("first") or (answer or {}).get("status")
            if 200 <= status < 300 and isinstance(outcome, str):
                self.outcomes.setdefault(svix_id, outcome)

    def acknowledged(self) -> int:
        """How many messages have had a 2xx so far."""
        with self._lock:
            answers = list(self.by_message.values())
        return sum(any(200 <= status < 300 for _, status in answer) for answer in answers)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
    """The status and JSON answer of one attempt."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(
            "POST", parts.path, body=body, headers={**headers, "content-type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        return response.status, answer if isinstance(answer, dict) else None
    except OSError:
        return 599, None  # connection trouble counts as a failed attempt, as at Svix
    finally:
        connection.close()


def deliver(
    url: str, key: bytes, message: Message, report: DeliveryReport, start: threading.Barrier | None = None
) -> None:
    """All attempts of one message until a 2xx or the schedule runs out."""
    if start is not None:
        start.wait()
    for delay in (0.0, *SCHEDULE):
        time.sleep(delay)
        stamp = int(time.time())
        status, answer = _post(
            url,
            message.body,
            {
                "svix-id": message.svix_id,
                "svix-timestamp": str(stamp),
                "svix-signature": sign(key, message.svix_id, stamp, message.body),
            },
        )
        report.record(message.svix_id, status, answer)
        if 200 <= status < 300:
            return
    with report._lock:
        report.failed.append(message.svix_id)


def deliver_all(
    url: str,
    key: bytes,
    messages: list[Message],
    seed: int,
    threads: int = 6,
    duplicates: float = 0.1,
    concurrent_repeats: float = 0.05,
    report: DeliveryReport | None = None,
) -> DeliveryReport:
    """Every message in random order, some twice (one after the other, or both at once), answers
    recorded in `report` (a new one unless given, e.g. to watch progress)."""
    rng = random.Random(seed)
    tasks: list[tuple[Message, threading.Barrier | None]] = [(m, None) for m in messages]
    tasks += [(m, None) for m in messages if rng.random() < duplicates]
    rng.shuffle(tasks)
    for message in messages:
        if rng.random() < concurrent_repeats:
            barrier = threading.Barrier(2, timeout=60)
            position = rng.randrange(len(tasks) + 1)
            tasks[position:position] = [(message, barrier), (message, barrier)]
    report = report if report is not None else DeliveryReport()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(deliver, url, key, m, report, b) for m, b in tasks]:
            future.result()
    return report
