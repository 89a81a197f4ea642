"""Delegated SMS (sms.created with delivered_by_clerk false) are sent at most once through SNS, and
every unknown outcome is recorded, with the claims e-mails use (adapters/claims.py).

Against real servers over sockets: moto's SNS (which captures each Publish to a phone number) and
the idempotency table on both DynamoDB engines; faults are injected by the proxy of tests/ses_proxy.py
in front of moto's SNS: refusals and throttling before SNS sees the request, answers lost after SNS
accepted (sent) it, and connections closed before anything was forwarded.
"""

from __future__ import annotations

import io
import json
import time
import uuid

import pytest
from builders import envelope, signed
from clerk_sync.app.batch import run_batch
from clerk_sync.domain.effects import Channel
from clerk_sync.observability import logger
from clerk_sync_local.stack.context import LocalContext
from ses_proxy import SesFaults, ses_proxy
from stacks import make_worker, sent_sms, sqs_event

TEXT = "482913 is your verification code for Example App."


def context() -> LocalContext:
    return LocalContext("SideEffectsFunction", timeout_seconds=30)


def phone_number() -> str:
    """A number of its own per test (moto's SNS is shared by every test of the session)."""
    return "+1555" + str(uuid.uuid4().int)[:10]


def sms(to: str, sms_id: str = "sms_1", **fields: object) -> dict[str, object]:
    """The data of an sms.created event, in Clerk's shape."""
    return {
        "object": "sms_message",
        "id": sms_id,
        "from_phone_number": "+12015550100",
        "to_phone_number": to,
        "phone_number_id": "idn_1",
        "user_id": "user_1",
        "message": TEXT,
        "slug": "verification_code",
        "status": "queued",
        "data": {"otp_code": "482913"},
        "delivered_by_clerk": False,
        **fields,
    }


def queued_sms(stack, to: str, svix_id: str = "msg_sms1") -> str:
    """Deliver an sms.created and take its deliver_sms message off the queue."""
    status, body = stack.deliver(signed(envelope("sms.created", sms(to)), svix_id=svix_id))
    assert (status, body["status"]) == (200, "applied")
    [message] = stack.queued()
    assert message["kind"] == "deliver_sms"
    return json.dumps(message)


def test_clerks_own_sms_queue_nothing_and_a_delegated_one_is_sent_once(stack, moto_endpoint):
    to = phone_number()
    for delivered in (True, None):  # Clerk sends it (or the field is absent): nothing to do here
        data = sms(to, "sms_clerk", delivered_by_clerk=delivered)
        if delivered is None:
            del data["delivered_by_clerk"]
        status, body = stack.deliver(signed(envelope("sms.created", data)))
        assert (status, body["status"]) == (200, "ignored")
    assert stack.queued() == []
    calls = []
    body = queued_sms(stack, to)
    worker = make_worker(
        stack, hooks=[("provide-client-params.sns.Publish", lambda params, **_: calls.append(params))]
    )
    run_batch(worker, sqs_event([body, body]), context())  # the same message twice in one batch
    run_batch(worker, sqs_event([body], receive_count=2), context())  # a redelivered batch
    run_batch(make_worker(stack), sqs_event([body]), context())  # another container
    [sent] = sent_sms(moto_endpoint, to)
    assert sent["message"] == TEXT
    [params] = calls
    assert params["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
    }
    [claim] = [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
    assert claim["id"] == "claim#deliver_sms#msg_sms1#sms_1"
    assert claim["state"] == "sent" and "message" not in claim and "unconfirmed" not in claim


def test_required_fields_missing_is_a_400_and_queues_nothing(stack):
    for missing in ("to_phone_number", "message", "id"):
        data = sms(phone_number())
        del data[missing]
        status, body = stack.deliver(signed(envelope("sms.created", data)))
        assert status == 400 and body == {"error": f"missing data.{missing}"}
    assert stack.nothing_written()


def test_the_origination_number_and_sender_id_are_sent_when_configured(stack, moto_endpoint):
    to, calls = phone_number(), []
    worker = make_worker(
        stack,
        hooks=[("provide-client-params.sns.Publish", lambda params, **_: calls.append(params))],
        environ={"SMS_ORIGINATION_NUMBER": "+12015550100", "SMS_SENDER_ID": "ExampleApp"},
    )
    assert run_batch(worker, sqs_event([queued_sms(stack, to)]), context()) == {"batchItemFailures": []}
    [params] = calls
    assert params["MessageAttributes"]["AWS.MM.SMS.OriginationNumber"]["StringValue"] == "+12015550100"
    assert params["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] == "ExampleApp"
    assert len(sent_sms(moto_endpoint, to)) == 1


def test_a_lost_answer_leaves_an_unconfirmed_claim_and_no_second_sms(stack, moto_endpoint):
    to = phone_number()
    body = queued_sms(stack, to)
    with ses_proxy(moto_endpoint, SesFaults(drop_after=1.0)) as proxy:
        worker = make_worker(stack, sns_endpoint=proxy.url)
        assert worker.handle(body, "m-1", context())["outcome"] == "unknown"
    assert proxy.requests[to] == 1, "botocore must not retry Publish"
    assert len(sent_sms(moto_endpoint, to)) == 1
    [unconfirmed] = list(worker.texter.unconfirmed())
    assert (unconfirmed.key, unconfirmed.kind, unconfirmed.target, unconfirmed.svix_id) == (
        "deliver_sms#msg_sms1#sms_1",
        "deliver_sms",
        "sms_1",
        "msg_sms1",
    )
    assert json.loads(unconfirmed.message)["to_phone_number"] == to  # what a resend would send
    assert list(worker.claims(Channel.EMAIL).unconfirmed()) == []  # listed as an SMS, not an e-mail
    # the redelivered message (another container) sends nothing more, and is not a failure
    assert run_batch(make_worker(stack), sqs_event([body], receive_count=2), context()) == {
        "batchItemFailures": []
    }
    assert len(sent_sms(moto_endpoint, to)) == 1


@pytest.mark.parametrize("fault", ["fail_before", "throttle"])
def test_a_refused_publish_releases_the_claim_and_the_retry_sends_once(stack, moto_endpoint, fault):
    to = phone_number()
    body = queued_sms(stack, to)
    event = sqs_event([body])
    with ses_proxy(moto_endpoint, SesFaults(**{fault: 1.0})) as proxy:
        worker = make_worker(stack, sns_endpoint=proxy.url)
        failures = run_batch(worker, event, context())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert proxy.requests[to] == 1
    assert sent_sms(moto_endpoint, to) == []
    assert not [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
    assert list(worker.texter.unconfirmed()) == []
    assert run_batch(make_worker(stack), sqs_event([body], receive_count=2), context()) == {
        "batchItemFailures": []
    }
    assert run_batch(make_worker(stack), sqs_event([body], receive_count=3), context()) == {
        "batchItemFailures": []
    }
    assert len(sent_sms(moto_endpoint, to)) == 1


def test_an_sms_that_never_left_is_listed_and_resent_once(stack, moto_endpoint):
    to = phone_number()
    with ses_proxy(moto_endpoint, SesFaults(drop_before=1.0)) as proxy:
        run_batch(make_worker(stack, sns_endpoint=proxy.url), sqs_event([queued_sms(stack, to)]), context())
    assert sent_sms(moto_endpoint, to) == []
    worker = make_worker(stack)
    [unconfirmed] = list(worker.texter.unconfirmed())
    assert worker.resend(unconfirmed) == {"outcome": "sent"}
    assert len(sent_sms(moto_endpoint, to)) == 1
    assert list(worker.texter.unconfirmed()) == []
    assert worker.resend(unconfirmed) == {"outcome": "changed_meanwhile"}
    assert make_worker(stack, sms=False).resend(unconfirmed) == {"outcome": "skipped_sms_disabled"}
    assert len(sent_sms(moto_endpoint, to)) == 1


def test_a_crash_between_claim_and_publish_is_listed_not_resent(stack, moto_endpoint):
    class Crash(BaseException):
        """The process dying between the claim and the SNS call."""

    def die(**_):
        raise Crash

    to = phone_number()
    body = queued_sms(stack, to)
    crashing = make_worker(stack, hooks=[("before-call.sns.Publish", die)])
    with pytest.raises(Crash):
        crashing.handle(body, "m-1", LocalContext("SideEffectsFunction", timeout_seconds=0.5))
    time.sleep(0.6)  # the crashed attempt's in-progress lease runs out
    assert make_worker(stack).handle(body, "m-1", context())["outcome"] == "unknown"
    assert sent_sms(moto_endpoint, to) == []
    assert [u.target for u in make_worker(stack).texter.unconfirmed()] == ["sms_1"]


def test_sms_turned_off_is_a_skip_not_a_failure(stack, moto_endpoint):
    to = phone_number()
    worker = make_worker(stack, sms=False)
    assert worker.texter is None
    assert worker.handle(queued_sms(stack, to), "m-1", context()) == {"outcome": "skipped_sms_disabled"}
    assert sent_sms(moto_endpoint, to) == []


def test_the_worker_logs_ids_and_outcomes_but_never_the_number_or_the_text(stack, moto_endpoint):
    to = phone_number()
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    try:
        sent = queued_sms(stack, to, "msg_sms_logged")
        run_batch(make_worker(stack), sqs_event([sent]), context())
        with ses_proxy(moto_endpoint, SesFaults(drop_after=1.0)) as proxy:
            run_batch(
                make_worker(stack, sns_endpoint=proxy.url),
                sqs_event([queued_sms(stack, to, "msg_sms_lost")]),
                context(),
            )
        with ses_proxy(moto_endpoint, SesFaults(fail_before=1.0)) as proxy:
            run_batch(
                make_worker(stack, sns_endpoint=proxy.url),
                sqs_event([queued_sms(stack, to, "msg_sms_refused")]),
                context(),
            )
    finally:
        logger.registered_handler.setStream(previous)
    out = buffer.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"level"' in line]
    outcomes = {line.get("svix_id"): line.get("outcome") for line in lines if line.get("message") == "effect"}
    assert outcomes == {"msg_sms_logged": "sent", "msg_sms_lost": "unknown"}
    assert any(line.get("message") == "SMS outcome unknown; claim kept as unconfirmed" for line in lines)
    assert any(line.get("message") == "record failed" for line in lines)  # the refusal
    assert len(sent_sms(moto_endpoint, to)) == 2  # the first, and the one whose answer was lost
    for secret in (to, to.removeprefix("+"), TEXT, "482913"):
        assert secret not in out
