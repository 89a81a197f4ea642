"""When a part of a clean-up must stop: its slice of the batch, or the invocation's time less a margin."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.config import CleanupBudget


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock."""

    at: float

    @classmethod
    def for_part(cls, budget: CleanupBudget, context: LambdaContext | None) -> Deadline:
        """The earlier of the slice's end and the invocation's timeout less the safety margin."""
        seconds = budget.slice_seconds
        if context is not None:
            left = context.get_remaining_time_in_millis() / 1000 - budget.margin_seconds
            seconds = min(seconds, left)
        return cls(time.monotonic() + seconds)

    def passed(self) -> bool:
        """True once the part must hand the rest on."""
        return time.monotonic() >= self.at
