"""Where the embedded moto server parts from DynamoDB in ways a long local run notices, and the fixes.

- Concurrent conditional writes to one item can both pass their checks: DynamoDB requests are run one
  at a time (`OneDynamoDBRequestAtATime`).
- Every model instance ever created is kept for moto's dashboard: memory grows with every write
  (`stop_tracking_churn`).
- TransactWriteItems deep-copies every table it touches, to roll back on failure: each transaction
  costs time in proportion to the tables' sizes; and a cancelled transaction's puts stay in the tables'
  streams, so a stream reader (the change feed) sees writes that never happened
  (`roll_back_transactions_by_item`).
- SES v2's GetAccount is not implemented, so the worker could not learn a sending rate to pace to
  (`AnswersSesGetAccount`: the rate a new production SES account gets).
- DynamoDB Streams' GetShardIterator fails with a bare 500 for a shard the stream does not have, or a
  sequence number before the shard's first record, where DynamoDB (and DynamoDB Local) answer
  ResourceNotFoundException and TrimmedDataAccessException (`answer_stream_positions`).
"""

from __future__ import annotations

import copy
import importlib
import json
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

LOCAL_SES_MAX_SEND_RATE = 14.0  # e-mails per second: a new production SES account's sending rate


class AnswersSesGetAccount:
    """WSGI wrapper that answers SES v2 GetAccount (GET /v2/email/account) with a production quota."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") != "/v2/email/account":
            return self._app(environ, start_response)
        quota = {"Max24HourSend": 50000.0, "MaxSendRate": LOCAL_SES_MAX_SEND_RATE, "SentLast24Hours": 0.0}
        body = json.dumps({"SendQuota": quota, "SendingEnabled": True, "ProductionAccessEnabled": True})
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body.encode()]


class OneDynamoDBRequestAtATime:
    """WSGI wrapper that runs moto's DynamoDB requests one at a time.

    moto checks a write's condition and then stores the item without a lock, so two concurrent
    conditional writes to one item can both pass their checks (seen in the chaos test: a tombstone
    overwritten by an older update). DynamoDB applies each request atomically; serialising DynamoDB
    requests gives moto that property. Streams requests take their turn too, so a stream reader never
    sees a transaction's records before it is applied or taken back. Other services are left
    concurrent: SQS long polls wait inside a request.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(("DynamoDB_", "DynamoDBStreams_")):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class _Untracked(list[Any]):
    """A registry that keeps nothing (see `stop_tracking_churn`)."""

    def append(self, instance: Any) -> None:
        """Forget the instance."""


def stop_tracking_churn() -> None:
    """moto keeps a reference to every model instance it ever creates, for its dashboard and data API,
    and never lets go: each DynamoDB item version, each SQS message, and the deep copy of every table
    it takes before each TransactWriteItems (to roll back) live until the process ends. A 50,000-event
    chaos run grew by ≈1 GB a minute. DynamoDB and SQS objects are no longer kept there (they stay
    readable through the APIs); e-mails still are, for `clerk-sync dump emails`."""
    from moto.core.model_instances import model_data

    for service in ("dynamodb", "sqs"):
        importlib.import_module(f"moto.{service}.models")  # registers the service's model classes
        for model in model_data[service].values():
            setattr(model, "instances_tracked", _Untracked())  # noqa: B010 (set by moto's metaclass, untyped)


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a deep copy of a whole table
    (taken only by TransactWriteItems, to roll back) is the table itself; anything else is copied."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)  # the rest of the `copy` module, as it is


_Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _key(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    """The hash and range values an operation names (None if malformed: moto rejects it unwritten)."""
    attributes = op.get("Key") or op.get("Item") or {}
    try:
        hash_value = DynamoType(attributes[table.hash_key_attr])
        range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError):
        return None
    return hash_value, range_value


def _snapshot(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    """A copy of every item the transaction names (None where absent), before it runs."""
    saved: list[_Saved] = []
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(str(op.get("TableName"))) if isinstance(op, dict) else None
            key = _key(table, op) if table is not None else None
            if table is None or key is None:
                continue
            hash_value, range_value = key
            stored: Any = table.items.get(hash_value)
            current = stored.get(range_value) if range_value is not None and stored else stored
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _restore(saved: list[_Saved]) -> None:
    """Put every named item back as it was (or remove it if it did not exist)."""
    for table, hash_value, range_value, item in reversed(saved):
        items: dict[Any, Any] = table.items
        if range_value is None:
            items.pop(hash_value, None)
            if item is not None:
                items[hash_value] = item
            continue
        partition: dict[Any, Any] = items.setdefault(hash_value, {})
        partition.pop(range_value, None)
        if item is not None:
            partition[range_value] = item
        if not partition:
            del items[hash_value]


def roll_back_transactions_by_item() -> None:
    """TransactWriteItems keeps copies of the items it names, not of whole tables.

    moto deep-copies every table a transaction touches before running it, so that a cancelled
    transaction can be undone: with 2,500 users each membership transaction cost ≈0.3 s, and a long
    chaos run slowed down as its tables grew. The copies are now of the (at most
    100) items the transaction names, restored when it fails, and the stream records it appended are
    taken back with them (DynamoDB streams hold no write of a cancelled transaction); what it applies and
    when it cancels are moto's own. Idempotent; applies to every moto DynamoDB backend in this process.
    """
    models: Any = importlib.import_module("moto.dynamodb.models")
    if isinstance(models.copy, _TablesNotCopied):
        return
    models.copy = _TablesNotCopied()
    by_table = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        taken = _snapshot(self, transact_items)
        streams = {id(t): (t.stream_shard, len(t.stream_shard.items)) for t, *_ in taken if t.stream_shard}
        try:
            by_table(self, transact_items)
        except Exception:
            _restore(taken)
            for shard, length in streams.values():  # requests run one at a time: only this one's
                del shard.items[length:]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


SHARD_NOT_FOUND = "Shard does not exist"  # DynamoDB Local's words for it
TRIMMED = "The operation attempted to read past the oldest stream record in a shard."  # DynamoDB's


def answer_stream_positions() -> None:
    """GetShardIterator refuses a position it cannot give with DynamoDB's errors, not an assertion.

    moto's stream has one shard per table, holding every record since the stream was enabled: another
    shard id is ResourceNotFoundException, and a sequence number before the shard's first is
    TrimmedDataAccessException (what DynamoDB answers for records past the stream's 24 hours). What
    moto did answer, it still does. Idempotent; applies to every moto backend in this process.
    """
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    if getattr(DynamoDBStreamsBackend.get_shard_iterator, "answers_positions", False):
        return
    original = DynamoDBStreamsBackend.get_shard_iterator

    def get_shard_iterator(
        self: DynamoDBStreamsBackend,
        arn: str,
        shard_id: str,
        shard_iterator_type: str,
        sequence_number: str | None = None,  # an int: moto's response parses it
    ) -> ShardIterator:
        shard = self._get_table_from_arn(arn).stream_shard
        if shard is None or shard.id != shard_id:
            raise JsonRESTError("ResourceNotFoundException", SHARD_NOT_FOUND)
        positioned = shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        before = sequence_number is not None and int(sequence_number) < shard.starting_sequence_number
        if positioned and before:
            raise JsonRESTError("TrimmedDataAccessException", TRIMMED)
        return original(self, arn, shard_id, shard_iterator_type, sequence_number)

    get_shard_iterator.answers_positions = True  # type: ignore[attr-defined]
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
