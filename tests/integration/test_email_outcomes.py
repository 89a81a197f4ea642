"""E-mails are sent at most once and every unknown outcome is recorded (issue 11, point 2).

The worker's SES v2 calls pass a fault proxy over real sockets (tests/ses_proxy.py) in front of moto's
SES: refusals before SES sees a request, throttling, and answers lost after SES accepted (sent) it.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
from builders import envelope, signed, user, welcome_message
from chaos_harness import append_summary
from clerk_sync.app.batch import run_batch
from clerk_sync_local.stack.context import LocalContext
from queue_loop import RealWorker, dead_letter_queue_url, drain, in_flight, patience_of, queue_worker
from ses_proxy import SesFaults, ses_proxy
from stacks import make_worker, sends_per_recipient, sent_emails, sqs_event

T = 1_732_000_000_000
EMAILS = int(os.environ.get("SES_FAULT_EMAILS", "60"))  # `make chaos`: 500


def context() -> LocalContext:
    return LocalContext("SideEffectsFunction", timeout_seconds=30)


def address() -> str:
    return f"ann-{uuid.uuid4().hex[:10]}@example.com"


def welcome_body(to: str, n: int = 0) -> str:
    return welcome_message(to, f"msg_out{n}", f"user_out{n}")


def test_a_lost_answer_is_not_retried_and_is_listed_as_unconfirmed(stack, moto_endpoint):
    to = address()
    with ses_proxy(moto_endpoint, SesFaults(drop_after=1.0)) as proxy:
        worker = make_worker(stack, ses_endpoint=proxy.url)
        assert run_batch(worker, sqs_event([welcome_body(to)]), context()) == {"batchItemFailures": []}
    assert proxy.requests[to] == 1, "botocore must not retry SendEmail"
    assert len(sent_emails(moto_endpoint, to)) == 1
    [unconfirmed] = list(worker._mailer.unconfirmed())
    assert (unconfirmed.key, unconfirmed.kind, unconfirmed.target, unconfirmed.svix_id) == (
        "welcome_email#msg_out0#user_out0",
        "welcome_email",
        "user_out0",
        "msg_out0",
    )
    # the redelivered message (another container) sends nothing more
    assert run_batch(make_worker(stack), sqs_event([welcome_body(to)]), context()) == {
        "batchItemFailures": []
    }
    assert len(sent_emails(moto_endpoint, to)) == 1


@pytest.mark.parametrize("fault", ["fail_before", "throttle"])
def test_a_definite_refusal_releases_the_claim_and_the_retry_sends(stack, moto_endpoint, fault):
    to = address()
    event = sqs_event([welcome_body(to)])
    with ses_proxy(moto_endpoint, SesFaults(**{fault: 1.0})) as proxy:
        worker = make_worker(stack, ses_endpoint=proxy.url)
        failures = run_batch(worker, event, context())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert proxy.requests[to] == (3 if fault == "throttle" else 1)  # throttled: paced retries in-process
    assert not [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
    assert list(worker._mailer.unconfirmed()) == []
    assert run_batch(make_worker(stack), sqs_event([welcome_body(to)]), context()) == {
        "batchItemFailures": []
    }
    assert len(sent_emails(moto_endpoint, to)) == 1
    [claim] = [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
    assert claim["state"] == "sent" and "message" not in claim and "unconfirmed" not in claim


def test_a_throttled_message_is_handed_back_with_a_delay(stack, moto_endpoint):
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=welcome_body(address()))
    with ses_proxy(moto_endpoint, SesFaults(throttle=1.0)) as proxy:
        invoker = RealWorker(make_worker(stack, ses_endpoint=proxy.url))
        worker = queue_worker(stack, invoker, dead_letter_queue_url(stack), "us-east-1")
        result = worker.poll(wait_seconds=1)
    assert result is not None and len(result.failed) == 1
    # the queue's own visibility (1 s) has passed; the hand-back (30 s for a first receive) has not
    got = stack.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=2)
    assert got.get("Messages", []) == [] and in_flight(stack, stack.queue_url) == 1


def test_an_email_that_never_left_is_listed_and_resent_once(stack, moto_endpoint):
    to = address()
    with ses_proxy(moto_endpoint, SesFaults(drop_before=1.0)) as proxy:
        run_batch(make_worker(stack, ses_endpoint=proxy.url), sqs_event([welcome_body(to)]), context())
    assert sent_emails(moto_endpoint, to) == []
    worker = make_worker(stack)
    [unconfirmed] = list(worker._mailer.unconfirmed())
    assert worker.resend(unconfirmed) == {"outcome": "sent"}
    assert len(sent_emails(moto_endpoint, to)) == 1
    assert list(worker._mailer.unconfirmed()) == []
    assert worker.resend(unconfirmed) == {"outcome": "changed_meanwhile"}
    assert len(sent_emails(moto_endpoint, to)) == 1


def test_a_crash_between_claim_and_send_is_listed_not_resent(stack, moto_endpoint):
    class Crash(BaseException):
        """The process dying between the claim and the SES call."""

    def die(**_):
        raise Crash

    to = address()
    crashing = make_worker(stack, hooks=[("before-call.sesv2.SendEmail", die)])
    with pytest.raises(Crash):
        crashing.handle(welcome_body(to), "m-1", LocalContext("SideEffectsFunction", timeout_seconds=0.5))
    time.sleep(0.6)  # the crashed attempt's in-progress lease runs out
    result = make_worker(stack).handle(welcome_body(to), "m-1", context())
    assert result["outcome"] == "unknown"
    assert sent_emails(moto_endpoint, to) == []
    assert [u.target for u in make_worker(stack)._mailer.unconfirmed()] == ["user_out0"]


def test_refused_claims_never_block_and_dropped_answers_never_send_twice(
    stack, backend, moto_endpoint, monkeypatch
):
    """The issue's fault mix: 10 % refused before SES sees them, 15 % throttled, 15 % answers dropped
    after SES sent them. Every e-mail is sent at most once, and each is either sent or listed."""
    monkeypatch.setattr("clerk_sync.domain.pacing.HANDBACK_BASE_SECONDS", 1)
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    run = uuid.uuid4().hex[:6]  # moto's SES is shared by every test of the session
    for n in range(EMAILS):
        user_id = f"user_mix{n}"
        stack.deliver(
            signed(envelope("user.created", user(user_id, T + 1, email=f"{user_id}-{run}@example.com")))
        )
    faults = SesFaults(seed=EMAILS, fail_before=0.10, throttle=0.15, drop_after=0.15)
    with ses_proxy(moto_endpoint, faults) as proxy:
        invoker = RealWorker(make_worker(stack, ses_endpoint=proxy.url))
        worker = queue_worker(stack, invoker, dead_letter_queue_url(stack), "us-east-1")
        # as long as the queue keeps moving; each batch that completes something deletes a message
        drain(stack, lambda: worker.poll(wait_seconds=1), patience_of(stack, hand_backs=True), EMAILS)
    recipients = [f"user_mix{n}-{run}@example.com" for n in range(EMAILS)]
    captured = sends_per_recipient(moto_endpoint)
    sent = {to: captured[to] for to in recipients}
    listed = {u.target for u in invoker.worker._mailer.unconfirmed()}
    assert max(sent.values()) == 1, "an e-mail was sent twice"
    assert all(
        sent[f"{u}-{run}@example.com"] == 1 or u in listed for u in (f"user_mix{n}" for n in range(EMAILS))
    )
    assert {f"{u}-{run}@example.com" for u in listed} == proxy.dropped_after
    assert proxy.fates["drop_after"] and proxy.fates["fail_before"] and proxy.fates["throttle"]
    assert in_flight(stack, dead_letter_queue_url(stack)) == 0
    append_summary(
        {
            "test": "ses faults",
            "engine": backend.name,
            "emails": EMAILS,
            "requests": dict(proxy.fates),
            "sent_once": sum(sent.values()),
            "sent_twice": sum(1 for n in sent.values() if n > 1),
            "unconfirmed": len(listed),
            "dead_letters": 0,
        }
    )
