"""Driving the real SideEffectsFunction worker through SQS as Lambda's event source mapping does:
`clerk-sync dev`'s QueueWorker over a stack's own SideEffects queue, configured from template.yaml."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from clerk_sync.app.batch import run_batch
from clerk_sync.app.effects_worker import Worker
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.queue_worker import Invoker, QueueWorker, event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from stacks import Stack


@dataclass
class RealWorker:
    """An Invoker running SideEffectsFunction's worker as its handler does (`run_batch`), recording
    every record it is handed (message id, ApproximateReceiveCount) and every failure it reports."""

    worker: Worker
    received: list[tuple[str, int]] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Invocation:
        self.received += [
            (r["messageId"], int(r["attributes"]["ApproximateReceiveCount"])) for r in event["Records"]
        ]
        started = time.perf_counter()
        result = run_batch(self.worker, event, LocalContext("SideEffectsFunction", timeout_seconds=30))
        self.reported += [failure["itemIdentifier"] for failure in result["batchItemFailures"]]
        return Invocation(result=result, error=None, ms=(time.perf_counter() - started) * 1000)


def dead_letter_queue_url(stack: Stack) -> str:
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])
    arn = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return str(stack.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])


def queue_worker(stack: Stack, invoker: Invoker, dead_letter_url: str, region: str) -> QueueWorker:
    """A QueueWorker with SideEffectsFunction's event source mapping as template.yaml configures it."""
    template = load_template(TEMPLATE_PATH)
    spec = function_specs(template, TEMPLATE_PATH.parent)["SideEffectsFunction"]
    refs = {"SideEffectsQueue": stack.queue_url, "SideEffectsDeadLetterQueue": dead_letter_url}
    [mapping] = event_source_mappings(spec, LocalResources(template, {}, refs))
    assert (mapping.batch_size, mapping.report_failures) == (10, True)
    return QueueWorker(stack.sqs, stack.queue_url, mapping, invoker, region)


def in_flight(stack: Stack, url: str) -> int:
    """Messages on the queue: visible, being processed, or delayed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def drain(stack: Stack, worker: QueueWorker, seconds: float) -> bool:
    """Poll until nothing is in flight on the stack's queue (True), or `seconds` have passed (False)."""
    deadline = time.monotonic() + seconds
    while in_flight(stack, stack.queue_url):
        if time.monotonic() > deadline:
            return False
        worker.poll(wait_seconds=1)
    return True
