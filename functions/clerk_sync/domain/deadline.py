"""When slow work must stop: the invocation's time less a margin, or a clean-up part's slice of it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CleanupBudget:
    """How long one part of a clean-up may run before it hands the rest on to a continuation message.

    A part stops at `slice_seconds` (so the rest of its batch is not held up behind it) or when the
    invocation has only `margin_seconds` left (to send the continuation and finish the batch).
    """

    slice_seconds: float = 5.0
    margin_seconds: float = 3.0


class LambdaContext(Protocol):
    """What a deadline needs of Lambda's context object."""

    def get_remaining_time_in_millis(self) -> int: ...


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

    @classmethod
    def of_invocation(cls, context: LambdaContext | None, margin_seconds: float, default: float) -> Deadline:
        """The invocation's timeout less the margin (at most a tenth of what is left); `default`
        seconds are left when there is no context (tools, tests)."""
        left = context.get_remaining_time_in_millis() / 1000 if context is not None else default
        return cls(time.monotonic() + left - min(margin_seconds, left / 10))

    def reached_by(self, seconds: float) -> bool:
        """True when waiting `seconds` more would pass it."""
        return time.monotonic() + seconds > self.at

    def passed(self) -> bool:
        """True once the part must hand the rest on."""
        return time.monotonic() >= self.at
