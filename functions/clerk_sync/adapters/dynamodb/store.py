"""Applying planned writes to DynamoDB with one conditional request each (never read-then-write)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from botocore.exceptions import ParamValidationError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from clerk_sync.adapters.dynamodb.conditions import condition as as_condition
from clerk_sync.adapters.dynamodb.models import Models
from clerk_sync.adapters.dynamodb.pynamodb_internals import share_client
from clerk_sync.adapters.dynamodb.schema_check import UnstorablePayloadError
from clerk_sync.domain.rules import LIVE, may_replace
from clerk_sync.domain.tables import CLERK, Table
from clerk_sync.domain.writes import Write

WriteOutcome = Literal["applied", "stale"]
CONDITION_FAILED = "ConditionalCheckFailed"
VALIDATION = "ValidationException"
# A cancelled transaction's reason for an invalid item: AWS documents ValidationError, moto answers the other.
INVALID_IN_TRANSACTION = frozenset({"ValidationError", VALIDATION})
# What DynamoDB answers when it refuses a value; the message (which may quote it) is never passed on.
REFUSED = "the record was refused by DynamoDB as invalid"


class Store:
    """Version-guarded writes to the synced tables."""

    def __init__(self, models: Models, client: Any, complete_objects: bool = True) -> None:
        """`client`: the botocore DynamoDB client the models share (see `bind_models`), for transactions.
        `complete_objects`: False leaves Clerk's complete object out of every record (the template's
        StoreCompleteObjects)."""
        self.models = models
        self.complete_objects = complete_objects
        meta = models.for_table(Table.USERS).Meta
        self._connection = Connection(region=getattr(meta, "region", None), host=getattr(meta, "host", None))
        share_client(self._connection, client)

    def as_stored(self, write: Write) -> Write:
        """The write as this store makes it: without Clerk's complete object when those are off."""
        if self.complete_objects or CLERK not in write.item:
            return write
        return replace(write, item={name: value for name, value in write.item.items() if name != CLERK})

    def apply(self, write: Write) -> WriteOutcome:
        """Replace the record if the write is newer; 'stale' when a condition says otherwise."""
        write = self.as_stored(write)
        model = self.models.for_table(write.table)
        record = model(**write.item)
        condition = as_condition(model, may_replace(write))
        if not write.parents:
            try:
                record.save(condition=condition)
            except PutError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    return "stale"
                if error.cause_response_code == VALIDATION or isinstance(error.cause, ParamValidationError):
                    raise UnstorablePayloadError(f"data: {REFUSED}") from None
                raise
            return "applied"
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(record, condition=condition)
                for parent in write.parents:
                    parent_model = self.models.for_table(parent.table)
                    transaction.condition_check(
                        parent_model, parent.id, condition=as_condition(parent_model, LIVE)
                    )
        except TransactWriteError as error:
            reasons = [r.code for r in (error.cancellation_reasons or []) if r is not None]
            if reasons and all(code == CONDITION_FAILED for code in reasons):
                return "stale"
            if error.cause_response_code == VALIDATION or INVALID_IN_TRANSACTION & set(reasons):
                raise UnstorablePayloadError(f"data: {REFUSED}") from None
            raise
        return "applied"
