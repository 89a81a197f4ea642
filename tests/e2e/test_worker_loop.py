"""Issue 4 through the local worker loop: the real SideEffectsFunction worker (`run_batch`), driven by
`clerk-sync dev`'s QueueWorker over the stack's own SideEffects queue, on moto's SQS and SES.

A batch of ten with one poisoned message: only that one is ever reported in `batchItemFailures`, it
is received exactly 5 times (the template's maxReceiveCount) and then sits in the dead-letter queue,
and each of the nine welcome e-mails goes out exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

from builders import welcome_message
from queue_loop import RealWorker, dead_letter_queue_url, drain, patience_of, queue_worker
from stacks import Stack, make_worker, sent_emails

T = 1_732_000_000_000
MAX_RECEIVES = 5  # template.yaml: SideEffectsQueue's RedrivePolicy.maxReceiveCount


def welcome_body(to: str, n: int) -> str:
    return welcome_message(to, f"msg_loop{n}", f"user_loop{n}")


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
    # as long as the queue keeps moving (5 receives, 1 s apart); a batch that completes something
    # deletes at least one message
    drain(stack, lambda: worker.poll(wait_seconds=1), patience_of(stack), max_batches=len(bodies))

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
