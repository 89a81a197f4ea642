"""Issue 4 through the local worker loop: the real SideEffectsFunction worker (`run_batch`), driven by
`clerk-sync dev`'s QueueWorker over the stack's own SideEffects queue, on moto's SQS and SES.

A batch of ten with one poisoned message: only that one is ever reported in `batchItemFailures`, it
is received exactly 5 times (the template's maxReceiveCount) and then sits in the dead-letter queue,
and each of the nine welcome e-mails goes out exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from clerk_sync import effects
from clerk_sync.batch import run_batch
from clerk_sync.events import Event
from clerk_sync.worker import Worker
from clerk_sync_local.context import LocalContext
from clerk_sync_local.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.queue_worker import Invoker, QueueWorker, event_source_mappings
from clerk_sync_local.template import TEMPLATE_PATH, load_template
from stacks import Stack, make_worker, sent_emails

T = 1_732_000_000_000
MAX_RECEIVES = 5  # template.yaml: SideEffectsQueue's RedrivePolicy.maxReceiveCount
LOOP_SECONDS = 20  # 5 receives, 1 s apart (the visibility timeout below), and some slack


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


def welcome_body(to: str, n: int) -> str:
    event = Event(
        svix_id=f"msg_loop{n}",
        type="user.created",
        data={"id": f"user_loop{n}", "first_name": "Ann"},
        occurred_at=T,
    )
    return json.dumps(effects.welcome_email(event, to))


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


def test_a_poisoned_message_reaches_the_dlq_after_5_receives_and_the_other_nine_are_done_once(
    stack: Stack, backend: Any, moto_endpoint: str
):
    # redelivery after 1 s instead of the template's 180 s: this test's queue only
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    dead_letters = dead_letter_queue_url(stack)
    recipients = [f"ann-{uuid.uuid4().hex[:10]}@example.com" for _ in range(9)]
    bodies = [welcome_body(to, n) for n, to in enumerate(recipients)]
    poison = json.dumps({"kind": "launch_rockets", "svix_id": "msg_poison"})
    bodies.insert(4, poison)
    sent = stack.sqs.send_message_batch(
        QueueUrl=stack.queue_url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
    )
    assert len(sent["Successful"]) == 10
    ids = {int(entry["Id"]): entry["MessageId"] for entry in sent["Successful"]}
    poisoned_id, welcome_ids = ids.pop(4), set(ids.values())

    invoker = RealWorker(make_worker(stack))
    worker = queue_worker(stack, invoker, dead_letters, backend.region)
    assert worker.max_receive_count == MAX_RECEIVES
    deadline = time.monotonic() + LOOP_SECONDS
    while in_flight(stack, stack.queue_url) and time.monotonic() < deadline:
        worker.poll(wait_seconds=1)
    assert in_flight(stack, stack.queue_url) == 0, f"queue not drained in {LOOP_SECONDS} s"

    # only the poisoned message was ever reported, once per receive, and it was received 5 times
    assert invoker.reported == [poisoned_id] * MAX_RECEIVES
    assert [count for message, count in invoker.received if message == poisoned_id] == [1, 2, 3, 4, 5]
    # the nine were each handed to the worker once (deleted after their first batch)
    assert Counter(message for message, _ in invoker.received if message != poisoned_id) == dict.fromkeys(
        welcome_ids, 1
    )

    # it sits in the dead-letter queue; moto carries its receive count over, so this first receive
    # there reads 6: the 5 on the SideEffects queue, then this one
    [dead] = stack.sqs.receive_message(
        QueueUrl=dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
    )["Messages"]
    assert (dead["MessageId"], dead["Body"]) == (poisoned_id, poison)
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) == MAX_RECEIVES + 1

    # each of the nine welcome e-mails went out exactly once
    assert [len(sent_emails(moto_endpoint, to)) for to in recipients] == [1] * 9
