"""Lambda's DynamoDB stream event source mapping, locally: a worker per `DynamoDB` event of a function.

It reads every shard of the table's stream (DescribeStream; a closed shard's children once the parent
is read to its end) from TRIM_HORIZON (or LATEST), and invokes the function with Lambda-shaped batches
of up to BatchSize records (waiting up to MaximumBatchingWindowInSeconds to fill one), one invocation
at a time per shard, in the shard's order. What Lambda does with the answer, it does:

- no failure (with ReportBatchItemFailures: an empty `batchItemFailures`): the batch is done;
- `batchItemFailures` naming a record of the batch (the lowest sequence number when several are): the
  records before it are done, and the batch is retried from that record;
- an error, a timeout, or an answer naming no record of the batch (an empty or unknown identifier): the
  whole batch is retried; with BisectBatchOnFunctionError it is first split in two halves, retried in
  order, each as a batch of its own (a split is not counted as a retry). A report naming the batch's
  first record makes no progress either, and is split the same way: that is how a record the function
  cannot read ends up alone (app/changes.py relies on it);
- a batch retried MaximumRetryAttempts times (-1: for ever), or records older than
  MaximumRecordAgeInSeconds, are skipped: a message like Lambda's on-failure record (shard, sequence
  numbers, condition) goes to the OnFailure destination's SQS queue, and the shard moves on.

Retries wait `retry_pause` seconds (short, and configurable so that tests run fast), during which the
shard is not read further. The function is anything with `invoke(event) -> Invocation` (an Invoker):
a LocalFunction in `clerk-sync dev`, `sam local start-lambda` in `make sam-local`, a test's stand-in.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from clerk_sync_local.stack.functions import FunctionSpec, Invocation, Invoker, LocalResources
from clerk_sync_local.stack.polling import poll_until_stopped
from clerk_sync_local.stack.state import DevError
from clerk_sync_local.stack.template import references

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

IDLE_SECONDS = 1.0  # between reads of a shard that had nothing new (Lambda's 4 a second, for 13 streams,
# would keep a fifth of a core busy locally; the template's batching window is a second anyway)
RETRY_PAUSE_SECONDS = 1.0  # before a failed batch is invoked again
SHARD_REFRESH_SECONDS = 5.0  # DescribeStream again, at most this often, while a closed shard has no child
MAX_GET_RECORDS = 1000  # GetRecords' limit per call
LOCAL_ACCOUNT = "000000000000"  # in the function ARN of on-failure records (LocalContext's)
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True)
class StreamEventSourceMapping:
    """A `DynamoDB` event of a function, as the template configures it."""

    function_id: str
    event_id: str  # the event's name in the template (Users, Organizations, …)
    table_id: str
    stream_arn: str
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    window_seconds: float = 0.0
    bisect: bool = False
    max_retries: int = -1  # -1: until the record is too old
    max_record_age: int = -1  # seconds; -1: no limit
    report_failures: bool = False
    on_failure_queue_id: str | None = None


def stream_event_source_mappings(spec: FunctionSpec, local: LocalResources) -> list[StreamEventSourceMapping]:
    """The function's `DynamoDB` events: `Stream: !GetAtt Table.StreamArn` read from the local tables'
    streams (`local.attributes`), `DestinationConfig.OnFailure` an SQS queue of the template."""
    mappings = []
    for name, event in spec.events.items():
        if event.get("Type") != "DynamoDB":
            continue
        where = f"{spec.logical_id}.Events.{name}"
        properties = event.get("Properties") or {}
        stream = properties.get("Stream")
        table_id = next(iter(references(stream)), None)
        if table_id is None:
            raise DevError(f"{where}: Stream is not !GetAtt <table>.StreamArn")
        destination = ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        queue_id = None
        if destination is not None:
            queue_id = next((q for q in references(destination) if q in local.refs), None)
            if queue_id is None:
                raise DevError(f"{where}: DestinationConfig.OnFailure is not a queue of the template")
        if int(local.resolve(properties.get("ParallelizationFactor", 1))) != 1:
            raise DevError(f"{where}: only ParallelizationFactor 1 is run locally")
        mappings.append(
            StreamEventSourceMapping(
                function_id=spec.logical_id,
                event_id=name,
                table_id=table_id,
                stream_arn=local.attribute(stream, where),
                starting_position=local.resolve(properties.get("StartingPosition", "TRIM_HORIZON")),
                batch_size=int(local.resolve(properties.get("BatchSize", 100))),
                window_seconds=float(local.resolve(properties.get("MaximumBatchingWindowInSeconds", 0))),
                bisect=local.resolve(properties.get("BisectBatchOnFunctionError", False)) == "true",
                max_retries=int(local.resolve(properties.get("MaximumRetryAttempts", -1))),
                max_record_age=int(local.resolve(properties.get("MaximumRecordAgeInSeconds", -1))),
                report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or ()),
                on_failure_queue_id=queue_id,
            )
        )
    return mappings


@dataclass
class _Batch:
    """Records handed to the function together, until done or skipped."""

    records: list[dict[str, Any]]  # as GetRecords returns them
    retries: int = 0  # invocations after the first
    invocations: int = 0
    not_before: float = 0.0


@dataclass
class _Shard:
    """Where the worker is in one shard, and what it has read but not yet handed over."""

    shard_id: str
    iterator: str | None = None
    ended: bool = False  # the shard is closed and read to its end
    last_read: str | None = None  # sequence number of the last record read
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffered_at: float = 0.0  # when the buffer's first record was read (the batching window)
    pending: deque[_Batch] = field(default_factory=deque)


@dataclass(frozen=True)
class StreamBatchResult:
    """One invocation (or one skip) of a shard's batch: what was handed over, and what came of it."""

    shard_id: str
    received: int  # records handed to the function (0: only skipped, too old)
    done: int  # records done by this invocation
    kinds: Counter[str]  # INSERT, MODIFY, REMOVE
    invocation: Invocation | None
    outcome: str  # done | retry | split | skipped
    retry: int = 0  # the retry this invocation was (0: the first invocation)
    skipped: int = 0  # records sent to the on-failure destination (or dropped without one)
    condition: str = ""  # why they were skipped


class StreamWorker:
    """Reads one table's stream and invokes the function as Lambda's event source mapping does."""

    def __init__(
        self,
        streams: Any,
        mapping: StreamEventSourceMapping,
        function: Invoker,
        region: str,
        sqs: SQSClient | None = None,
        on_failure_url: str | None = None,
        retry_pause: float = RETRY_PAUSE_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mapping.on_failure_queue_id is not None and (sqs is None or on_failure_url is None):
            raise DevError(f"{mapping.function_id}.{mapping.event_id}: its on-failure queue needs a URL")
        self.mapping = mapping
        self.on_failure_url = on_failure_url
        self._streams = streams
        self._function = function
        self._region = region
        self._sqs = sqs
        self._retry_pause = retry_pause
        self._idle = idle_seconds
        self._clock = clock
        self._shards: dict[str, _Shard] = {}
        self._finished: set[str] = set()  # closed shards read to their end and handed over
        self._described_at: float | None = None
        self._turn = 0  # round robin over the shards

    # --- one step ---------------------------------------------------------------------------------

    def poll(self) -> StreamBatchResult | None:
        """Read the shards and hand over (or skip) at most one batch; None when none was due."""
        self._discover_shards()
        shards = list(self._shards.values())
        for offset in range(len(shards)):
            shard = shards[(self._turn + offset) % len(shards)]
            result = self._step(shard)
            if shard.ended and not shard.buffer and not shard.pending:
                self._finished.add(shard.shard_id)
                del self._shards[shard.shard_id]
                self._described_at = None  # its children are due now
            if result is not None:
                self._turn = (self._turn + offset + 1) % max(1, len(shards))
                return result
        return None

    def run(self, stop: threading.Event, say: Callable[[str], None]) -> None:
        """Poll until `stop` is set (within about a second, unless an invocation is under way), printing
        one line per batch."""
        name = f"stream {self.mapping.event_id}"
        poll_until_stopped(stop, say, name, self.poll, self.describe, self._wait)

    def _wait(self) -> float:
        """Seconds until a shard may have something to do: the idle pause, or less when a retry is due."""
        due = [shard.pending[0].not_before for shard in self._shards.values() if shard.pending]
        return max(0.0, min([self._idle, *(when - self._clock() for when in due)]))

    def describe(self, result: StreamBatchResult) -> str:
        """One readable line for a batch."""
        m = self.mapping
        kinds = ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in sorted(result.kinds.items()))
        head = f"{datetime.now():%H:%M:%S}  {'stream ' + m.event_id:<31}  {m.function_id:<30}  "
        if result.invocation is None:
            return head + f"{self._skipped(result)}"
        plural = "s" if result.received != 1 else ""
        line = head + f"{result.received} record{plural} ({kinds}): {result.done} done"
        if result.retry:
            line += f" (retry {result.retry})"
        if result.outcome == "retry":
            line += f", retried from record {result.done + 1} in {self._retry_pause:g} s"
        elif result.outcome == "split":
            line += f", split in two and retried in {self._retry_pause:g} s"
        if result.skipped:
            line += f"; {self._skipped(result)}"
        if result.invocation.error:
            line += f"  ({result.invocation.error}; see {m.function_id}.log)"
        return line + f"  {result.invocation.ms:.0f} ms"

    # --- shards -----------------------------------------------------------------------------------

    def _discover_shards(self) -> None:
        """DescribeStream at the start and after a shard ended (throttled while it has no child yet):
        a shard is read once its parent is read to its end (or gone from the stream)."""
        now = self._clock()
        if self._described_at is not None and (
            self._shards or now - self._described_at < SHARD_REFRESH_SECONDS
        ):
            return
        self._described_at = now
        listed: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            page = self._streams.describe_stream(StreamArn=self.mapping.stream_arn, **start)
            description = page["StreamDescription"]
            listed += description.get("Shards") or []
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            start = {"ExclusiveStartShardId": last}
        known = {shard["ShardId"] for shard in listed}
        for shard in listed:
            shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
            if shard_id in self._finished or shard_id in self._shards:
                continue
            if parent and parent in known and parent not in self._finished:
                continue  # after its parent
            self._shards[shard_id] = _Shard(shard_id)

    def _iterator(self, shard: _Shard) -> str:
        if shard.iterator is None:
            where: dict[str, Any] = {"ShardIteratorType": self.mapping.starting_position}
            if shard.last_read is not None:
                where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_read}
            shard.iterator = self._streams.get_shard_iterator(
                StreamArn=self.mapping.stream_arn, ShardId=shard.shard_id, **where
            )["ShardIterator"]
        assert shard.iterator is not None
        return shard.iterator

    def _read(self, shard: _Shard) -> None:
        """One GetRecords into the shard's buffer (an expired iterator is renewed where it was)."""
        if shard.ended or len(shard.buffer) >= self.mapping.batch_size:
            return
        limit = min(MAX_GET_RECORDS, self.mapping.batch_size - len(shard.buffer))
        try:
            answer = self._streams.get_records(ShardIterator=self._iterator(shard), Limit=limit)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                shard.iterator = None  # next time: after the last record read (or from the start)
                if error.response["Error"]["Code"] == "TrimmedDataAccessException":
                    shard.last_read = None
                return
            raise
        records = [dict(record) for record in answer.get("Records") or []]
        if records and not shard.buffer:
            shard.buffered_at = self._clock()
        shard.buffer += records
        if records:
            shard.last_read = str(records[-1]["dynamodb"]["SequenceNumber"])
        shard.iterator = answer.get("NextShardIterator")
        shard.ended = shard.iterator is None

    # --- batches ----------------------------------------------------------------------------------

    def _step(self, shard: _Shard) -> StreamBatchResult | None:
        if not shard.pending:
            self._read(shard)
            full = len(shard.buffer) >= self.mapping.batch_size
            waited = self._clock() - shard.buffered_at >= self.mapping.window_seconds
            if not shard.buffer or not (full or waited or shard.ended):
                return None
            size = self.mapping.batch_size
            shard.pending.append(_Batch(shard.buffer[:size]))
            shard.buffer = shard.buffer[size:]
            shard.buffered_at = self._clock()
        batch = shard.pending[0]
        if self._clock() < batch.not_before:
            return None
        expired = self._expired(batch.records)
        if expired:  # sent before they are dropped: a failed send leaves them for the next poll
            self._skip(shard, batch.records[:expired], RECORD_AGE_EXCEEDED, batch.invocations, None)
            batch.records = batch.records[expired:]
            if not batch.records:
                shard.pending.popleft()
            return StreamBatchResult(
                shard.shard_id,
                0,
                0,
                Counter(),
                None,
                "skipped",
                skipped=expired,
                condition=RECORD_AGE_EXCEEDED,
            )
        return self._invoke(shard, batch)

    def _invoke(self, shard: _Shard, batch: _Batch) -> StreamBatchResult:
        records = batch.records
        event = {"Records": [self.lambda_record(record) for record in records]}
        invocation = self._function.invoke(event)
        batch.invocations += 1
        retry, kinds = batch.retries, Counter(str(record.get("eventName")) for record in records)
        failed_at = self._failed_at(invocation, records)
        if failed_at is None:
            shard.pending.popleft()
            return StreamBatchResult(
                shard.shard_id, len(records), len(records), kinds, invocation, "done", retry
            )
        if failed_at == 0 and self.mapping.bisect and len(records) > 1:
            shard.pending.popleft()
            half = len(records) // 2
            halves = [_Batch(records[:half]), _Batch(records[half:])]
            halves[0].not_before = self._clock() + self._retry_pause
            shard.pending.extendleft(reversed(halves))
            return StreamBatchResult(shard.shard_id, len(records), 0, kinds, invocation, "split", retry)
        batch.records = records[failed_at:]
        batch.retries += 1
        if 0 <= self.mapping.max_retries < batch.retries:
            self._skip(shard, batch.records, RETRIES_EXHAUSTED, batch.invocations, invocation)
            shard.pending.popleft()
            return StreamBatchResult(
                shard.shard_id, len(records), failed_at, kinds, invocation, "skipped", retry,
                skipped=len(batch.records), condition=RETRIES_EXHAUSTED,
            )  # fmt: skip
        batch.not_before = self._clock() + self._retry_pause
        return StreamBatchResult(shard.shard_id, len(records), failed_at, kinds, invocation, "retry", retry)

    def _failed_at(self, invocation: Invocation, records: Sequence[Mapping[str, Any]]) -> int | None:
        """Where the batch failed (0: nothing done), None when it was all done."""
        if invocation.error is not None:
            return 0
        if not self.mapping.report_failures:
            return None
        answer = invocation.result if isinstance(invocation.result, dict) else {}
        failures = answer.get("batchItemFailures")
        if not failures:  # absent, null or empty: all done
            return None
        if not isinstance(failures, list):
            return 0
        positions = {str(r["dynamodb"]["SequenceNumber"]): i for i, r in enumerate(records)}
        named = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if not all(isinstance(n, str) and n in positions for n in named):
            return 0  # an identifier that names no record of the batch: the whole batch failed
        return min(positions[str(n)] for n in named)

    def _expired(self, records: Sequence[Mapping[str, Any]]) -> int:
        """How many of the batch's first records are older than MaximumRecordAgeInSeconds."""
        if self.mapping.max_record_age < 0:
            return 0
        oldest = time.time() - self.mapping.max_record_age
        count = 0
        for record in records:
            if _created(record) >= oldest:
                break
            count += 1
        return count

    def _skip(
        self,
        shard: _Shard,
        records: Sequence[Mapping[str, Any]],
        condition: str,
        invocations: int,
        invocation: Invocation | None,
    ) -> None:
        """Send what Lambda sends to the on-failure destination for skipped records (nothing without a
        destination: they are dropped, as Lambda does)."""
        if self.on_failure_url is not None and self._sqs is not None:
            message = self.on_failure_record(shard.shard_id, records, condition, invocations, invocation)
            self._sqs.send_message(QueueUrl=self.on_failure_url, MessageBody=json.dumps(message))

    def _skipped(self, result: StreamBatchResult) -> str:
        plural = "s" if result.skipped != 1 else ""
        why = (
            f"after {self.mapping.max_retries} retries"
            if result.condition == RETRIES_EXHAUSTED
            else f"older than {self.mapping.max_record_age} s"
        )
        if self.on_failure_url is None:
            return f"{result.skipped} record{plural} dropped {why} (no on-failure destination)"
        queue = self.on_failure_url.rsplit("/", 1)[-1]
        return f"{result.skipped} record{plural} skipped {why}: on-failure record sent to {queue}"

    # --- what Lambda sends --------------------------------------------------------------------------

    def lambda_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record of Lambda's DynamoDB event from a record GetRecords returned (`lambda_record`)."""
        return lambda_record(record, self.mapping.stream_arn, self._region)

    def on_failure_record(
        self,
        shard_id: str,
        records: Sequence[Mapping[str, Any]],
        condition: str,
        invocations: int,
        invocation: Invocation | None,
    ) -> dict[str, Any]:
        """What Lambda sends to a stream mapping's on-failure destination: where the skipped records
        are (shard, first and last sequence numbers), not the records."""
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if invocation is not None and invocation.error is not None:
            response["functionError"] = "Unhandled"
        function_arn = f"arn:aws:lambda:{self._region}:{LOCAL_ACCOUNT}:function:{self.mapping.function_id}"
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn,
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": response if invocations else {},
            "version": "1.0",
            "timestamp": _iso(time.time(), milliseconds=True),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": str(records[0]["dynamodb"]["SequenceNumber"]),
                "endSequenceNumber": str(records[-1]["dynamodb"]["SequenceNumber"]),
                "approximateArrivalOfFirstRecord": _iso(_created(records[0])),
                "approximateArrivalOfLastRecord": _iso(_created(records[-1])),
                "batchSize": len(records),
                "streamArn": self.mapping.stream_arn,
            },
        }


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A record of Lambda's DynamoDB event (JSON: numbers as text, binaries as base64, the creation time
    in epoch seconds) from a record GetRecords returned on the stream `stream_arn`."""
    body = record["dynamodb"]
    dynamodb: dict[str, Any] = {"ApproximateCreationDateTime": int(_created(record))}
    for name in ("Keys", "NewImage", "OldImage"):
        if name in body:
            dynamodb[name] = {key: _json_value(value) for key, value in body[name].items()}
    dynamodb.update(
        SequenceNumber=str(body["SequenceNumber"]),
        SizeBytes=int(body.get("SizeBytes", 0)),
        StreamViewType=str(body.get("StreamViewType", "")),
    )
    shaped: dict[str, Any] = {
        "eventID": str(record.get("eventID", "")),
        "eventName": str(record.get("eventName", "")),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # a TTL deletion
        shaped["userIdentity"] = dict(record["userIdentity"])
    return shaped


def _created(record: Mapping[str, Any]) -> float:
    """A record's ApproximateCreationDateTime in epoch seconds (boto3 parses it into a datetime)."""
    value = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, int | float) else time.time()


def _iso(seconds: float, milliseconds: bool = False) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute value as Lambda's JSON has it: binaries (B, BS) as base64 text, at any depth."""
    [(kind, inner)] = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(item)).decode() for item in inner]}
    if kind == "M":
        return {"M": {name: _json_value(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_json_value(item) for item in inner]}
    return {kind: inner}
