"""When and how long to wait before asking Clerk again (no I/O: sleeping and randomness are injected).

- 429: wait exactly what Retry-After says (capped at `max_retry_after`), or back off when it is absent;
  rate limits are normal on big instances, so they have their own, larger attempt budget.
- 5xx, timeouts, dropped connections: exponential backoff with jitter, `max_attempts` in all.
- Everything else is not retried here (bad credentials, 4xx, validation): the caller decides.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clerk_sync.adapters.clerk.errors import ApiError, ApiUnreachableError, RateLimitedError, RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and delays (seconds)."""

    max_attempts: int = 5  # for 5xx and connection failures: ≈ 0.5 + 1 + 2 + 4 s of waiting, at most
    rate_limit_attempts: int = 30  # for 429s
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0


def backoff(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry number `attempt` (1-based): exponential, with jitter in [50 %, 100 %]."""
    ceiling: float = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * rand())


def delay(error: RetryableError, attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """How long to wait after `error` on attempt `attempt`."""
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), policy.max_retry_after)
    return backoff(attempt, policy, rand)


def give_up(error: RetryableError, attempts: int, what: str) -> Exception:
    """The error that ends the run once the attempts are spent."""
    if error.unreachable:
        return ApiUnreachableError(f"Clerk API unreachable ({what}): {error.reason}, {attempts} attempts")
    return ApiError(f"Clerk API kept failing ({what}): {error.reason}, {attempts} attempts")


def call(
    request: Callable[[], T],
    what: str,
    policy: RetryPolicy,
    on_wait: Callable[[str, float], None] = lambda reason, seconds: None,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """`request()`, retried on RetryableError per `policy`; `on_wait(reason, seconds)` before each wait."""
    failures = rate_limits = 0
    while True:
        try:
            return request()
        except RetryableError as error:
            if isinstance(error, RateLimitedError):
                rate_limits += 1
                attempt, budget = rate_limits, policy.rate_limit_attempts
            else:
                failures += 1
                attempt, budget = failures, policy.max_attempts
            if attempt >= budget:
                raise give_up(error, attempt, what) from None
            wait = delay(error, attempt, policy, rand)
            on_wait(f"{what}: {error.reason}", wait)
        sleep(wait)
