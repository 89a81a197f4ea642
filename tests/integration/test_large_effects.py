"""A delegated e-mail too large for an SQS message is delivered like any other (issue 11, point 6)."""

from __future__ import annotations

import json
import random
import string
import uuid

from builders import envelope, signed
from clerk_sync.app.batch import run_batch
from clerk_sync_local.stack.context import LocalContext
from stacks import make_worker, sent_emails, sqs_event

SQS_LIMIT = 256 * 1024


def _text(size: int, seed: int) -> str:
    """Text that compresses poorly (random words), with non-ASCII letters JSON escapes."""
    rng = random.Random(seed)
    letters = string.ascii_letters + "éüøß€"
    words = ("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size))
    out, length = [], 0
    for word in words:
        out.append(word)
        length += len(word) + 1
        if length >= size:
            break
    return " ".join(out)


def test_an_email_larger_than_an_sqs_message_is_sent_once_exactly(stack, moto_endpoint):
    to = f"big-{uuid.uuid4().hex[:8]}@example.com"
    html = "<html><body><p>" + _text(420_000, 1) + "</p></body></html>"
    plain = _text(200_000, 2)
    email = {
        "object": "email",
        "id": "ema_big",
        "slug": "magic_link_sign_in",
        "to_email_address": to,
        "subject": "Your sign-in link",
        "body": html,
        "body_plain": plain,
        "delivered_by_clerk": False,
        "status": "queued",
        "user_id": "user_1",
        "email_address_id": "idn_1",
    }
    event = signed(envelope("email.created", email), svix_id="msg_big")
    assert len(event["body"]) > 2 * SQS_LIMIT
    assert stack.deliver(event)[0] == 200
    [message] = stack.queued()
    assert len(json.dumps(message)) < 1024 and message["kind"] == "deliver_email"
    assert message["spilled"]["chunks"] >= 1
    sent_params = []
    worker = make_worker(
        stack,
        hooks=[("provide-client-params.sesv2.SendEmail", lambda params, **_: sent_params.append(params))],
    )
    context = LocalContext("SideEffectsFunction", timeout_seconds=30)
    for _ in range(2):  # the message redelivered: still one e-mail
        assert run_batch(worker, sqs_event([json.dumps(message)]), context) == {"batchItemFailures": []}
    assert run_batch(make_worker(stack), sqs_event([json.dumps(message)]), context) == {
        "batchItemFailures": []
    }
    [params] = sent_params
    content = params["Content"]["Simple"]
    assert content["Subject"]["Data"] == "Your sign-in link"
    assert content["Body"]["Html"]["Data"] == html and content["Body"]["Text"]["Data"] == plain
    assert len(sent_emails(moto_endpoint, to)) == 1
    # the claim keeps the small reference, not the body
    [claim] = [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
    assert claim["state"] == "sent"


def test_a_reference_whose_body_is_gone_fails_alone_as_poison(stack):
    body = json.dumps(
        {
            "kind": "deliver_email",
            "svix_id": "msg_gone",
            "email_id": "ema_gone",
            "spilled": {"key": "deliver_email#msg_gone#ema_gone", "chunks": 2, "sha256": "0" * 64},
        }
    )
    event = sqs_event([body])
    result = run_batch(make_worker(stack), event, LocalContext("SideEffectsFunction", timeout_seconds=30))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
