"""Effects follow the write: only an applied write queues side effects, and a welcome e-mail is never
sent to a user whose stored record is a tombstone when the worker runs (issue 11, point 1)."""

from __future__ import annotations

import json
import uuid

from builders import envelope, signed, user
from clerk_sync.app.batch import run_batch
from clerk_sync_local.stack.context import LocalContext
from queue_loop import wait_for_delayed
from stacks import make_worker, sent_emails, sqs_event

T = 1_732_000_000_000


def _kinds(stack) -> list[str]:
    return [m["kind"] for m in stack.queued()]


def test_stale_duplicate_and_ignored_deliveries_queue_nothing(stack):
    """The reproduction from the issue: created, the same user under a new svix id, deleted, created."""
    created = envelope("user.created", user("user_1", T + 1), T + 1)
    assert stack.deliver(signed(created, svix_id="msg_c1"))[1]["status"] == "applied"
    assert _kinds(stack) == ["welcome_email"]
    assert stack.deliver(signed(created, svix_id="msg_c2"))[1]["status"] == "stale"
    assert stack.deliver(signed(created, svix_id="msg_c1"))[1]["status"] == "duplicate"
    assert _kinds(stack) == []
    deleted = envelope("user.deleted", {"id": "user_1", "deleted": True, "object": "user"}, T + 5)
    assert stack.deliver(signed(deleted, svix_id="msg_d"))[1]["status"] == "applied"
    assert stack.deliver(signed(created, svix_id="msg_c3"))[1]["status"] == "stale"
    assert stack.deliver(signed(envelope("agentTask.created", {"id": "agt_1"})))[1]["status"] == "ignored"
    wait_for_delayed(stack)  # clean-up messages are delayed 5 s (the indexes catch up)
    assert _kinds(stack) == ["user_cleanup"]


def test_a_retry_after_a_failed_send_reapplies_and_queues(stack):
    """The same svix id re-applying its own version (its first send failed) queues its effect."""
    event = signed(envelope("user.created", user("user_2", T + 1)), svix_id="msg_again")
    stack.deliver(event)
    assert _kinds(stack) == ["welcome_email"]
    stack.dynamodb.delete_item(  # as if the first attempt had failed after its write: record released
        TableName=stack.tables["IdempotencyTable"],
        Key={"id": {"S": stack.items("IdempotencyTable")[0]["id"]}},
    )
    assert stack.another_receiver().handle(event, LocalContext("WebhookFunction"))["statusCode"] == 200
    assert _kinds(stack) == ["welcome_email"]


def test_no_welcome_for_a_user_deleted_before_the_worker_runs(stack, moto_endpoint):
    to = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    stack.deliver(signed(envelope("user.created", user("user_3", T + 1, email=to), T + 1)))
    [welcome] = stack.queued()
    stack.deliver(signed(envelope("user.deleted", {"id": "user_3", "deleted": True}, T + 9)))
    worker = make_worker(stack)
    event = sqs_event([json.dumps(welcome)])
    assert run_batch(worker, event, LocalContext("SideEffectsFunction", timeout_seconds=30)) == {
        "batchItemFailures": []
    }
    assert sent_emails(moto_endpoint, to) == []
    assert not [i for i in stack.items("IdempotencyTable") if i["id"].startswith("claim#")]
