"""Processing a verified event exactly once per svix id (Powertools idempotency on DynamoDB)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.dynamodb.schema_check import SchemaCheck
from clerk_sync.adapters.dynamodb.store import Store, WriteOutcome
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.domain.writes import Changes

# Svix retries for ~28 h and Dashboard replays come later: keep records for a week.
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
KEY_PREFIX = "clerk-sync.webhook"  # stable keys whatever the function or module is named


class Outcome(TypedDict):
    """What a delivery did: the 200 answer's body, and (applied or stale) its idempotency record."""

    status: WriteOutcome | Literal["ignored"]
    """`applied` (written, or nothing to write, and effects queued), `stale` (a newer or final record
    is stored: nothing written or queued), `ignored` (the receiver stores nothing of this event)."""
    type: str
    id: str | None


class Duplicate(TypedDict):
    """A replayed delivery's answer: the first outcome's type and id, its status as `first`."""

    status: Literal["duplicate"]
    type: str | None
    id: str | None
    first: str | None
    """None (as `type`) only if the stored record lacks it: every record holds an `Outcome`."""


DeliveryOutcome = Outcome | Duplicate


def mark_duplicate(response: Any, idempotent_data: DataRecord) -> Duplicate:
    """A replayed delivery answers with the first outcome, marked as a duplicate."""
    first = dict(response or {})
    return {
        "status": "duplicate",
        "type": first.get("type"),
        "id": first.get("id"),
        "first": first.get("status"),
    }


class DeliveryProcessor:
    """Applies an event's changes once per svix id: entity write first, then its side-effect messages.

    Effects follow the write: they are queued only when the write was applied (a first write, or the
    same svix id re-applying its own version on a retry after a failed send). A stale delivery queues
    nothing, so a late `user.created` never greets a user again, or after their deletion.
    """

    def __init__(self, store: Store, queue: SideEffectsQueue, persistence: BasePersistenceLayer) -> None:
        self._store = store
        self._queue = queue
        self._schema = SchemaCheck(store.models)
        self.config = IdempotencyConfig(
            event_key_jmespath="svix_id",
            payload_validation_jmespath="body_sha256",
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
            use_local_cache=True,
            response_hook=mark_duplicate,
        )
        self._once = idempotent_function(
            data_keyword_argument="delivery",
            persistence_store=persistence,
            config=self.config,
            key_prefix=KEY_PREFIX,
        )(self._apply)

    def process(
        self, *, svix_id: str, body_sha256: str, changes: Changes, context: LambdaContext | None
    ) -> DeliveryOutcome:
        """The outcome of the first processing of this svix id (raises Idempotency* errors).

        A write the schema cannot store raises UnstorablePayloadError before anything is written, the
        idempotency record included; so does one DynamoDB refuses as invalid (nothing is left written).
        """
        if changes.write is not None:
            self._schema.check(self._store.as_stored(changes.write))
        if context is not None:
            self.config.register_lambda_context(context)
        result: DeliveryOutcome = self._once(
            delivery={"svix_id": svix_id, "body_sha256": body_sha256}, changes=changes
        )
        return result

    def _apply(self, delivery: dict[str, str], changes: Changes) -> Outcome:
        status = "applied" if changes.write is None else self._store.apply(changes.write)
        if status == "applied":
            for effect in changes.effects:
                self._queue.send(effect)
        return {"status": status, "type": changes.event_type, "id": changes.entity_id}
