"""Lambda's SQS event source mapping, locally: a worker per SQS event of a function.

It long-polls the queue, invokes the function with Lambda-shaped SQS batches, deletes what succeeded
and leaves what failed (`batchItemFailures`), so the queue's redrive to the dead-letter queue applies.
The function is anything with `invoke(event) -> Invocation` (an Invoker): a LocalFunction in
`clerk-sync dev`, or a test's own object around the real worker.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clerk_sync_local.stack.functions import FunctionSpec, Invocation, Invoker, LocalResources
from clerk_sync_local.stack.polling import poll_until_stopped
from clerk_sync_local.stack.state import DevError
from clerk_sync_local.stack.template import references

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

POLL_WAIT_SECONDS = 1  # each long poll: short, so that Ctrl-C stops a worker within a second
SQS_MAX_MESSAGES = 10  # per ReceiveMessage call


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event of a function, as the template configures it."""

    function_id: str
    queue_id: str
    batch_size: int
    window_seconds: float
    report_failures: bool


def event_source_mappings(spec: FunctionSpec, local: LocalResources) -> list[EventSourceMapping]:
    """The function's SQS events (queues referred to by `!GetAtt Queue.Arn`)."""
    mappings = []
    for name, event in spec.events.items():
        if event.get("Type") != "SQS":
            continue
        properties = event.get("Properties") or {}
        queue_id = next((q for q in references(properties.get("Queue")) if q in local.refs), None)
        if queue_id is None:
            raise DevError(f"{spec.logical_id}.Events.{name}: Queue is not a queue of the template")
        mappings.append(
            EventSourceMapping(
                function_id=spec.logical_id,
                queue_id=queue_id,
                batch_size=int(local.resolve(properties.get("BatchSize", 10))),
                window_seconds=float(local.resolve(properties.get("MaximumBatchingWindowInSeconds", 0))),
                report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or ()),
            )
        )
    return mappings


@dataclass(frozen=True)
class BatchResult:
    """One batch handed to the function: how many messages, which stay on the queue, and why."""

    received: int
    failed: frozenset[str]  # message ids left on the queue
    kinds: Counter[str]
    invocation: Invocation


class QueueWorker:
    """Polls one queue and invokes the function with Lambda-shaped SQS batches.

    Messages the function reports in `batchItemFailures` (or all of them, when it raises or answers
    with an identifier that is not in the batch) are left alone: they become visible again after the
    queue's visibility timeout, and the redrive policy moves them to the dead-letter queue after
    maxReceiveCount receives. The others are deleted.
    """

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        mapping: EventSourceMapping,
        function: Invoker,
        region: str,
    ) -> None:
        self.mapping = mapping
        self._sqs = sqs
        self._queue_url = queue_url
        self._function = function
        self._region = region
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "RedrivePolicy"]
        )
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        redrive = json.loads(attributes["Attributes"].get("RedrivePolicy") or "{}")
        self.max_receive_count: int | None = redrive.get("maxReceiveCount")

    def poll(self, wait_seconds: int = POLL_WAIT_SECONDS) -> BatchResult | None:
        """Receive one batch (long-polling up to `wait_seconds`) and process it; None when empty."""
        messages = self._receive(self.mapping.batch_size, wait_seconds)
        deadline = time.monotonic() + self.mapping.window_seconds
        while messages and len(messages) < self.mapping.batch_size and time.monotonic() < deadline:
            more = self._receive(self.mapping.batch_size - len(messages), POLL_WAIT_SECONDS)
            messages += more
        if not messages:
            return None
        invocation = self._function.invoke({"Records": [self._record(m) for m in messages]})
        failed = self._failed(invocation, {m["MessageId"] for m in messages})
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_MAX_MESSAGES):
            chunk = done[start : start + SQS_MAX_MESSAGES]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        kinds = Counter(_kind(m["Body"]) for m in messages)
        return BatchResult(
            received=len(messages), failed=frozenset(failed), kinds=kinds, invocation=invocation
        )

    def run(self, stop: threading.Event, say: Callable[[str], None]) -> None:
        """Poll until `stop` is set, printing one line per batch."""
        name = f"worker {self.mapping.function_id}"
        poll_until_stopped(stop, say, name, self.poll, self.describe)

    def describe(self, result: BatchResult) -> str:
        """One readable line for a batch."""
        kinds = ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in sorted(result.kinds.items()))
        done = result.received - len(result.failed)
        line = (
            f"{datetime.now():%H:%M:%S}  {'worker':<31}  {self.mapping.function_id:<30}  "
            f"{result.received} message{'s' if result.received != 1 else ''} ({kinds}): {done} done"
        )
        if result.failed:
            line += f", {len(result.failed)} left on the queue"
            if self.max_receive_count:
                line += f" (dead-letter queue after {self.max_receive_count} receives)"
        if result.invocation.error:
            line += f"  ({result.invocation.error}; see {self.mapping.function_id}.log)"
        return line + f"  {result.invocation.ms:.0f} ms"

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(count, SQS_MAX_MESSAGES),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [dict(message) for message in answer.get("Messages", [])]

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A record of Lambda's SQS event."""
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _failed(self, invocation: Invocation, ids: set[str]) -> set[str]:
        if invocation.error is not None:
            return ids
        if not self.mapping.report_failures:
            return set()
        answer = invocation.result if isinstance(invocation.result, dict) else {}
        failures = answer.get("batchItemFailures") or []
        reported = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        return ids if not reported <= ids else {str(item) for item in reported}


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType"),
    }


def _kind(body: str) -> str:
    """A message's `kind` field, for the batch line ("message" when it has none)."""
    try:
        value = json.loads(body)
    except ValueError:
        return "message"
    kind = value.get("kind") if isinstance(value, dict) else None
    return str(kind) if kind is not None else "message"
