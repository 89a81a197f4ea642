"""Clean-ups of any size: one part per message, within its time budget; the rest is handed on.

A part tombstones from where its message says until its deadline, then sends the continuation (part
N+1, saying where it stopped) to the SideEffects queue, and only then does the worker complete the
part's idempotency record. A part re-run after a crash therefore re-sends the same continuation, whose
own idempotency key (it includes the part number) absorbs the duplicate.
"""

from __future__ import annotations

from typing import Literal, TypedDict, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.dynamodb.cleanup import Cleaner, CleanupResult
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.domain import effects
from clerk_sync.domain.deadline import CleanupBudget, Deadline
from clerk_sync.domain.effects import EffectMessage
from clerk_sync.observability import logger


class CleanupPartResult(TypedDict):
    """What a clean-up part did (its idempotency record and log fields): `cleaned` when the clean-up
    is done, `continued` when the rest was handed on; its part number. It also holds, under each child
    table's name, how many records the part tombstoned there (keys a TypedDict cannot declare: the
    child tables come from domain/tables.py)."""

    outcome: Literal["cleaned", "continued"]
    part: int


class CleanupParts:
    """Runs one part of a clean-up message (`user_cleanup`, `organization_cleanup`)."""

    def __init__(self, cleaner: Cleaner, queue: SideEffectsQueue, budget: CleanupBudget) -> None:
        self._cleaner = cleaner
        self._queue = queue
        self._budget = budget

    def run(self, message: EffectMessage, context: LambdaContext | None) -> CleanupPartResult:
        """Tombstone this part; `cleaned` when the clean-up is done, `continued` when it was handed on."""
        deadline = Deadline.for_part(self._budget, context)
        parent = effects.EFFECT_KINDS[message.kind].cleans
        assert parent is not None  # the worker sends only clean-up kinds here
        done = self._cleaner.children(
            parent, message.target, _deleted_at(message), message.svix_id, message.position, deadline
        )
        if done.resume is not None:
            self._queue.send(effects.cleanup_continuation(message, done.resume))
        result = _result(message, done)
        logger.info(
            "cleanup part",
            extra={
                "kind": message.kind,
                "svix_id": message.svix_id,
                "target": message.target,
                **result,
                "next_phase": done.resume.phase if done.resume else None,
            },
        )
        return result


def _result(message: EffectMessage, done: CleanupResult) -> CleanupPartResult:
    outcome = "continued" if done.resume else "cleaned"
    return cast(CleanupPartResult, {"outcome": outcome, "part": message.part, **done.tombstoned})


def _deleted_at(message: EffectMessage) -> int:
    value = message.fields.get("deleted_at")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
