"""Driving the real SideEffectsFunction worker through SQS as Lambda's event source mapping does:
`clerk-sync dev`'s QueueWorker over a stack's own SideEffects queue, configured from template.yaml."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clerk_sync.adapters.dynamodb.cleanup import BATCH_SIZE
from clerk_sync.app.batch import run_batch
from clerk_sync.app.effects_worker import Worker
from clerk_sync.domain import pacing
from clerk_sync.domain.effects import EFFECT_KINDS
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.queue_worker import BatchResult, Invoker, QueueWorker, event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from stacks import Stack

SLACK_SECONDS = 30.0  # an answer of the local engines on a busy 2-core machine, at worst


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


def patience_of(stack: Stack, hand_backs: bool = False) -> float:
    """How long the stack's queue may hand a worker nothing while messages are still on it: the longest
    delay of a first message (clean-ups wait for the indexes), the visibility timeout a failed message
    waits out or, with `hand_backs`, the delay of a throttled e-mail handed back for its last receive;
    plus SLACK_SECONDS for the engines' answers on a loaded machine."""
    names: Any = ["VisibilityTimeout", "RedrivePolicy"]
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)["Attributes"]
    invisible = float(attributes["VisibilityTimeout"])
    if hand_backs:
        receives = json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]
        invisible = max(invisible, float(pacing.handback_delay(receives)))
    return max(spec.delay_seconds for spec in EFFECT_KINDS.values()) + invisible + SLACK_SECONDS


def drain(
    stack: Stack,
    poll: Callable[[], BatchResult | None],
    patience: float,
    max_batches: int | None = None,
) -> float:
    """Poll until nothing is in flight on the stack's queue; the seconds it took.

    There is no wall-clock limit, which a loaded machine would overrun: it waits as long as the queue
    keeps moving (a batch handed to the worker, or the number in flight changing) and fails when nothing
    moved for `patience` seconds (`patience_of`), or when more than `max_batches` batches completed
    something (a bound from the work, e.g. `cleanup_parts`: a chain of continuations that never ends).
    """
    started = moved = time.monotonic()
    batches, before = 0, in_flight(stack, stack.queue_url)
    while before:
        result = poll()
        now = in_flight(stack, stack.queue_url)
        if result is not None or now != before:
            moved = time.monotonic()
        if result is not None and result.received > len(result.failed):
            batches += 1
        assert max_batches is None or batches <= max_batches, f"{batches} batches, at most {max_batches} due"
        assert time.monotonic() - moved <= patience, f"{now} in flight, nothing moved for {patience:.0f} s"
        before = now
    return time.monotonic() - started


def cleanup_parts(kind: str, records: int) -> int:
    """The most parts a clean-up of `records` children can take: a part tombstones at least a batch
    of its phase, or finishes the phase (fewer were left), or only finds its slice over as it moves on
    to the next phase."""
    return math.ceil(records / BATCH_SIZE) + 2 * len(EFFECT_KINDS[kind].phases) + 1


def wait_for_delayed(stack: Stack) -> None:
    """Wait until no message on the stack's queue is delayed (clean-ups are, by their kind's delay),
    however long that is on a loaded machine; past the longest delay and SLACK_SECONDS one is late."""
    limit = time.monotonic() + max(spec.delay_seconds for spec in EFFECT_KINDS.values()) + SLACK_SECONDS
    names: Any = ["ApproximateNumberOfMessagesDelayed"]
    while int(
        stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)["Attributes"][names[0]]
    ):
        assert time.monotonic() < limit, "a delayed message did not become visible"
        time.sleep(0.1)
