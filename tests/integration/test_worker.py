"""SideEffectsFunction against real engines: e-mails once, clean-ups complete, poison isolated."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from builders import envelope, membership, signed, user, welcome_message
from clerk_sync.app import extensions
from clerk_sync.app.batch import run_batch
from clerk_sync.domain import effects
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import Table
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.queue_worker import BatchResult
from queue_loop import RealWorker, cleanup_parts, dead_letter_queue_url, drain, patience_of, queue_worker
from stacks import make_worker, sent_emails, sqs_event

T = 1_732_000_000_000


def address() -> str:
    return f"ann-{uuid.uuid4().hex[:10]}@example.com"


def welcome_body(to: str, svix_id: str = "msg_w1", user_id: str = "user_1") -> str:
    return welcome_message(to, svix_id, user_id)


def context(timeout: float = 30.0) -> LocalContext:
    return LocalContext("SideEffectsFunction", timeout_seconds=timeout)


def test_welcome_email_from_a_delivered_user_created(stack, moto_endpoint):
    to = address()
    stack.deliver(signed(envelope("user.created", user("user_1", T + 1, email=to))))
    [message] = stack.queued()
    result = run_batch(make_worker(stack), sqs_event([json.dumps(message)]), context())
    assert result == {"batchItemFailures": []}
    [sent] = sent_emails(moto_endpoint, to)
    assert (
        sent["subject"] == "Welcome!" and "Hi Ann" in sent["body"] and sent["source"] == "welcome@example.com"
    )


def test_welcome_email_exactly_once_under_duplicates_and_redelivery(stack, moto_endpoint):
    to = address()
    body = welcome_body(to)
    worker = make_worker(stack)
    run_batch(worker, sqs_event([body, body]), context())  # the same message twice in one batch
    run_batch(worker, sqs_event([body], receive_count=2), context())  # a redelivered batch
    run_batch(make_worker(stack), sqs_event([body]), context())  # another container
    assert len(sent_emails(moto_endpoint, to)) == 1


def test_crash_between_sending_and_recording_does_not_send_twice(stack, moto_endpoint, monkeypatch):
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    class Crash(BaseException):
        """The process dying: no exception handler of the function runs."""

    to = address()
    body = welcome_body(to, svix_id="msg_crash")
    worker = make_worker(stack)

    def die(self, *args, **kwargs):
        raise Crash

    monkeypatch.setattr(BasePersistenceLayer, "save_success", die)
    with pytest.raises(Crash):
        worker.handle(body, "m-1", context(timeout=0.5))
    monkeypatch.undo()
    assert len(sent_emails(moto_endpoint, to)) == 1
    time.sleep(1.0)  # the crashed attempt's in-progress lease (the function timeout) runs out
    result = run_batch(make_worker(stack), sqs_event([body], receive_count=2), context())
    assert result == {"batchItemFailures": []}
    assert len(sent_emails(moto_endpoint, to)) == 1


def test_ses_refusal_fails_the_message_and_the_retry_sends(stack, moto_endpoint):
    to = address()
    body = welcome_body(to, svix_id="msg_unverified")
    unverified = make_worker(stack, sender=None)
    unverified._mailer = make_worker(stack)._mailer
    unverified._mailer.sender = "not-verified@example.com"
    event = sqs_event([body])
    assert run_batch(unverified, event, context())["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][0]["messageId"]}
    ]
    assert sent_emails(moto_endpoint, to) == []
    assert run_batch(make_worker(stack), sqs_event([body]), context()) == {"batchItemFailures": []}
    assert len(sent_emails(moto_endpoint, to)) == 1


def test_skips_are_not_failures(stack, moto_endpoint):
    no_address = welcome_body("", svix_id="msg_noaddr")
    assert run_batch(make_worker(stack), sqs_event([no_address]), context()) == {"batchItemFailures": []}
    to = address()
    assert run_batch(
        make_worker(stack, sender=None), sqs_event([welcome_body(to, "msg_nosender")]), context()
    ) == {"batchItemFailures": []}
    assert sent_emails(moto_endpoint, to) == []


def test_one_poisoned_message_fails_alone(stack, moto_endpoint):
    recipients = [address() for _ in range(9)]
    bodies = [welcome_body(to, svix_id=f"msg_b{i}", user_id=f"user_b{i}") for i, to in enumerate(recipients)]
    bodies.insert(4, json.dumps({"kind": "launch_rockets", "svix_id": "msg_x"}))
    event = sqs_event(bodies)
    result = run_batch(make_worker(stack), event, context())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][4]["messageId"]}]}
    assert all(len(sent_emails(moto_endpoint, to)) == 1 for to in recipients)


def test_a_batch_where_every_message_fails_is_reported_not_raised(stack):
    event = sqs_event(["not json", "{}", json.dumps({"kind": "user_cleanup", "svix_id": "msg_1"})])
    result = run_batch(make_worker(stack), event, context())
    assert len(result["batchItemFailures"]) == 3


def _seed(stack, user_id: str, sessions: int, memberships: int) -> None:
    with stack.models.for_table(Table.SESSIONS).batch_write() as batch:
        for n in range(sessions):
            batch.save(
                stack.models.for_table(Table.SESSIONS)(
                    id=f"sess_{user_id}_{n}",
                    user_id=user_id,
                    status="active",
                    client_id="client_1",
                    version=T,
                    svix_id="msg_seed",
                )
            )
    with stack.models.for_table(Table.MEMBERSHIPS).batch_write() as batch:
        for n in range(memberships):
            batch.save(
                stack.models.for_table(Table.MEMBERSHIPS)(
                    organization_id=f"org_{n}",
                    user_id=user_id,
                    id=f"orgmem_{n}",
                    role="org:member",
                    version=T,
                    svix_id="msg_seed",
                )
            )


def test_user_cleanup_tombstones_every_membership_and_session(stack, backend):
    _seed(stack, "user_big", sessions=1200, memberships=300)
    _seed(stack, "user_other", sessions=3, memberships=2)
    stack.deliver(
        signed(envelope("user.deleted", {"id": "user_big", "deleted": True}, T + 10), svix_id="msg_del")
    )
    # The clean-up takes as many parts (continuation messages) as its slices need: on a loaded machine
    # more than on an idle one. The queue is drained as the event source mapping does, the clean-up's
    # first message once its delay is over, then every continuation, however many parts that takes.
    # A failed part comes back once its in-progress idempotency record (the 30 s timeout) has expired.
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "31"})
    invoker = RealWorker(make_worker(stack))
    loop = queue_worker(stack, invoker, dead_letter_queue_url(stack), backend.region)
    kinds: list[str] = []

    def poll() -> BatchResult | None:
        result = loop.poll(wait_seconds=1)
        kinds.extend(result.kinds.elements() if result else ())
        return result

    drain(stack, poll, patience_of(stack), max_batches=cleanup_parts("user_cleanup", 1200 + 300))
    assert set(kinds) == {"user_cleanup"}
    sessions = [s for s in stack.items("SessionsTable") if s["id"].startswith("sess_user_big")]
    members = [m for m in stack.items("MembershipsTable") if m["user_id"] == "user_big"]
    assert len(sessions) == 1200 and len(members) == 300
    allowed_session = {"id", "deleted", "deleted_at", "version", "svix_id"}
    allowed_membership = {"organization_id", "user_id", "deleted", "deleted_at", "version", "svix_id"}
    assert all(s["deleted"] is True and set(s) == allowed_session for s in sessions)
    assert all(m["deleted"] is True and set(m) == allowed_membership for m in members)
    others = [s for s in stack.items("SessionsTable") if s["id"].startswith("sess_user_other")]
    assert len(others) == 3 and not any(s.get("deleted") for s in others)


def test_organization_cleanup_tombstones_its_memberships(stack):
    for user_id in ("user_1", "user_2"):
        stack.deliver(signed(envelope("organizationMembership.created", membership("org_9", user_id, T + 1))))
    stack.deliver(signed(envelope("organizationMembership.created", membership("org_8", "user_1", T + 1))))
    body = json.dumps(
        effects.organization_cleanup(
            Event(svix_id="msg_od", type="organization.deleted", data={"id": "org_9"}, occurred_at=T + 5)
        )
    )
    assert run_batch(make_worker(stack), sqs_event([body]), context()) == {"batchItemFailures": []}
    state = {
        (m["organization_id"], m["user_id"]): m.get("deleted", False) for m in stack.items("MembershipsTable")
    }
    assert state == {("org_9", "user_1"): True, ("org_9", "user_2"): True, ("org_8", "user_1"): False}


def test_cleanup_racing_late_membership_creations_leaves_no_live_membership(stack):
    _seed(stack, "user_r", sessions=0, memberships=50)
    late = [
        signed(envelope("organizationMembership.created", membership(f"org_late{n}", "user_r", T + 20 + n)))
        for n in range(40)
    ]
    deletion = signed(envelope("user.deleted", {"id": "user_r", "deleted": True}, T + 10), svix_id="msg_rdel")
    cleanup = json.dumps(
        effects.user_cleanup(
            Event(svix_id="msg_rdel", type="user.deleted", data={"id": "user_r"}, occurred_at=T + 10)
        )
    )
    start = threading.Barrier(3)
    receiver = stack.another_receiver()

    def deliver_late() -> None:
        start.wait()
        for event in late:
            receiver.handle(event, LocalContext("WebhookFunction"))

    def delete_and_clean() -> None:
        start.wait()
        stack.deliver(deletion)
        run_batch(make_worker(stack), sqs_event([cleanup]), context())

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(deliver_late), pool.submit(delete_and_clean), pool.submit(start.wait)]
        for future in futures:
            future.result()
    # the clean-up message may have run before some late creations landed: run the redelivery too
    run_batch(make_worker(stack), sqs_event([cleanup], receive_count=2), context())
    live = [m for m in stack.items("MembershipsTable") if m["user_id"] == "user_r" and not m.get("deleted")]
    assert live == []


def test_delegated_email_is_sent_once_with_its_subject_and_bodies(stack, moto_endpoint):
    to = address()
    email = {
        "object": "email",
        "id": "ema_1",
        "slug": "verification_code",
        "to_email_address": to,
        "subject": "Your code",
        "body": "<p>Code 123</p>",
        "body_plain": "Code 123",
        "delivered_by_clerk": False,
        "status": "queued",
        "user_id": "user_1",
        "email_address_id": "idn_1",
    }
    calls = []

    def capture(params, **_):
        calls.append(params)

    stack.deliver(signed(envelope("email.created", email), svix_id="msg_em"))
    stack.deliver(signed(envelope("email.created", {**email, "id": "ema_2", "delivered_by_clerk": True})))
    messages = stack.queued()
    assert [m["kind"] for m in messages] == ["deliver_email"]
    worker = make_worker(stack, hooks=[("provide-client-params.sesv2.SendEmail", capture)])
    for _ in range(2):
        assert run_batch(worker, sqs_event([json.dumps(messages[0])]), context()) == {"batchItemFailures": []}
    [sent] = sent_emails(moto_endpoint, to)
    assert sent["subject"] == "Your code" and sent["body"] == "<p>Code 123</p>"
    [params] = calls
    assert params["Content"]["Simple"]["Body"]["Text"]["Data"] == "Code 123"


def test_extensions_run_once_after_the_builtin_effect(stack):
    seen: list[str] = []
    extensions.register("organization_cleanup")(lambda message: seen.append(message.target))
    try:
        body = json.dumps(
            effects.organization_cleanup(
                Event(svix_id="msg_ext", type="organization.deleted", data={"id": "org_x"}, occurred_at=T)
            )
        )
        worker = make_worker(stack)
        run_batch(worker, sqs_event([body, body]), context())
        run_batch(make_worker(stack), sqs_event([body]), context())
    finally:
        extensions.clear()
    assert seen == ["org_x"]
