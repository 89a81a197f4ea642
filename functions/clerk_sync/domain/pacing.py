"""Pacing sends to a rate: a token bucket that slows down when throttled (pure logic, clock injected).

SES refuses sends above the account's `MaxSendRate` ("Maximum sending rate exceeded"). Each worker
container paces its own sends at its share of that rate (90 % of the rate divided by the most
containers the SQS event source runs at once: the containers' slots are not synchronised), so a burst
of thousands of messages is spread out instead of refused.
If SES throttles anyway (the quota is shared with other senders of the account), the pace halves, and
it recovers by a twentieth of the share per send that goes through: the additive-increase,
multiplicative-decrease rule of botocore's adaptive retry mode, but starting from the known quota
instead of unlimited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

HANDBACK_BASE_SECONDS = 30
HANDBACK_MAX_SECONDS = 900
HEADROOM = 0.9  # containers pace unsynchronised, and a send leaves a little after its slot
SANDBOX_RATE = 1.0  # e-mails per second in the SES sandbox: the safe pace when the quota is unknown
FLOOR_RATE = 0.1
RECOVERY_STEPS = 20


@dataclass
class Pacer:
    """Spaces calls at most `rate` per second (no bursts: the first call goes at once)."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    ceiling: float = field(init=False)
    _next: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        self.ceiling = self.rate

    def delay(self) -> float:
        """Seconds until the next call may go."""
        return max(0.0, self._next - self.clock())

    def wait(self) -> float:
        """Block until the next call may go; returns the seconds waited."""
        now = self.clock()
        delay = max(0.0, self._next - now)
        if delay:
            self.sleep(delay)
        self._next = max(now, self._next) + 1.0 / self.rate
        return delay

    def throttled(self) -> None:
        """The last call was refused for its rate: halve the pace (never below FLOOR_RATE)."""
        self.rate = max(FLOOR_RATE, self.rate / 2)

    def succeeded(self) -> None:
        """The last call went through: recover towards the ceiling."""
        self.rate = min(self.ceiling, self.rate + self.ceiling / RECOVERY_STEPS)


def share_of(max_send_rate: float, max_concurrency: int) -> float:
    """One container's share of the account's send rate, with headroom (HEADROOM)."""
    return max(FLOOR_RATE, HEADROOM * max_send_rate / max(1, max_concurrency))


def handback_delay(receive_count: int) -> int:
    """Seconds a throttled message stays invisible before its next receive: 30, 60, 120, 240, … ≤ 900."""
    return min(HANDBACK_MAX_SECONDS, HANDBACK_BASE_SECONDS << min(10, max(0, receive_count - 1)))
