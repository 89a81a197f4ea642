"""Exactly-once and order-safety of deliveries against real engines."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from builders import (
    answer,
    domain,
    envelope,
    invitation,
    membership,
    organization,
    payment_attempt,
    permission,
    role,
    session,
    signed,
    subscription,
    subscription_item,
    user,
    waitlist_entry,
)
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.observability import logger
from clerk_sync.settings import load_config
from clerk_sync_local.stack.context import LocalContext
from stacks import environment

T = 1_732_000_000_000


def test_concurrent_duplicates_apply_exactly_once(stack):
    event = signed(envelope("user.created", user("user_1", T + 1), T + 1), svix_id="msg_race")
    receivers = [stack.another_receiver() for _ in range(6)]
    barrier = threading.Barrier(len(receivers))

    def deliver(receiver):
        barrier.wait()
        return answer(receiver.handle(event, LocalContext("WebhookFunction")))

    with ThreadPoolExecutor(len(receivers)) as pool:
        results = list(pool.map(deliver, receivers))
    statuses = [body.get("status", code) for code, body in results]
    assert statuses.count("applied") == 1, results
    assert all(s in ("applied", "duplicate", 409) for s in statuses), results
    assert len(stack.queued()) == 1 and len(stack.items("UsersTable")) == 1


def test_older_update_after_newer_is_stale_and_changes_nothing(stack):
    assert (
        stack.deliver(signed(envelope("user.updated", user("user_1", T + 20, first_name="New"))))[1]["status"]
        == "applied"
    )
    status, body = stack.deliver(signed(envelope("user.updated", user("user_1", T + 10, first_name="Old"))))
    assert (status, body["status"]) == (200, "stale")
    [stored] = stack.items("UsersTable")
    assert stored["first_name"] == "New" and stored["version"] == T + 20


def test_a_stale_user_created_queues_no_welcome(stack):
    """Effects follow the write: a user.created older than the stored user queues nothing."""
    stack.deliver(signed(envelope("user.updated", user("user_1", T + 20))))
    _, body = stack.deliver(signed(envelope("user.created", user("user_1", T + 10))))
    assert body["status"] == "stale"
    assert stack.queued() == []


def test_deletion_is_final(stack):
    stack.deliver(signed(envelope("user.created", user("user_1", T + 1), T + 1)))
    assert (
        stack.deliver(signed(envelope("user.deleted", {"id": "user_1", "deleted": True}, T + 5)))[1]["status"]
        == "applied"
    )
    for late in (
        envelope("user.updated", user("user_1", T + 9)),
        envelope("user.created", user("user_1", T + 99)),
    ):
        assert stack.deliver(signed(late))[1]["status"] == "stale"
    [stored] = stack.items("UsersTable")
    assert stored == {
        "id": "user_1",
        "deleted": True,
        "deleted_at": T + 5,
        "version": T + 5,
        "svix_id": stored["svix_id"],
    }
    stack.deliver(signed(envelope("organization.created", organization("org_1", T + 1))))
    stack.deliver(signed(envelope("organization.deleted", {"id": "org_1", "deleted": True}, T + 2)))
    assert (
        stack.deliver(signed(envelope("organization.updated", organization("org_1", T + 50))))[1]["status"]
        == "stale"
    )
    assert stack.items("OrganizationsTable")[0]["deleted"] is True


def test_membership_rejoin_comes_back(stack):
    stack.deliver(signed(envelope("organizationMembership.created", membership("org_1", "user_1", T + 1))))
    stack.deliver(
        signed(envelope("organizationMembership.deleted", membership("org_1", "user_1", T + 1), T + 5))
    )
    [gone] = stack.items("MembershipsTable")
    assert gone["deleted"] is True and "role" not in gone
    rejoin = membership("org_1", "user_1", T + 9, role="org:admin")
    assert stack.deliver(signed(envelope("organizationMembership.created", rejoin)))[1]["status"] == "applied"
    [back] = stack.items("MembershipsTable")
    assert back["role"] == "org:admin" and "deleted" not in back
    late_delete = envelope("organizationMembership.deleted", membership("org_1", "user_1", T + 1), T + 5)
    assert stack.deliver(signed(late_delete))[1]["status"] == "stale"


def test_children_of_a_deleted_user_do_not_come_alive(stack):
    stack.deliver(signed(envelope("user.deleted", {"id": "user_1", "deleted": True}, T + 5)))
    assert (
        stack.deliver(
            signed(envelope("organizationMembership.created", membership("org_1", "user_1", T + 9)))
        )[1]["status"]
        == "stale"
    )
    assert (
        stack.deliver(signed(envelope("session.created", session("sess_1", "user_1", T + 9))))[1]["status"]
        == "stale"
    )
    assert stack.items("MembershipsTable") == [] and stack.items("SessionsTable") == []


def test_aws_calls_per_event(stack):
    def calls_for(payload, **kwargs):
        stack.calls.clear()
        status, body = stack.deliver(signed(payload, **kwargs))
        assert status == 200, body
        return dict(stack.calls)

    put, update, send = "dynamodb.PutItem", "dynamodb.UpdateItem", "sqs.SendMessage"
    assert calls_for(envelope("user.created", user("user_1", T + 1))) == {put: 2, update: 1, send: 1}
    assert calls_for(envelope("user.updated", user("user_1", T + 2))) == {put: 2, update: 1}
    assert calls_for(envelope("organization.created", organization("org_1", T + 1))) == {put: 2, update: 1}
    assert calls_for(envelope("organizationMembership.created", membership("org_1", "user_1", T + 3))) == {
        put: 1,
        "dynamodb.TransactWriteItems": 1,
        update: 1,
    }
    assert calls_for(envelope("session.created", session("sess_1", "user_1", T + 3))) == {
        put: 1,
        "dynamodb.TransactWriteItems": 1,
        update: 1,
    }
    guarded = {put: 1, "dynamodb.TransactWriteItems": 1, update: 1}  # a write with a parent to check
    assert (
        calls_for(envelope("organizationInvitation.created", invitation("orginv_1", "org_1", T + 3)))
        == guarded
    )
    assert calls_for(envelope("organizationDomain.created", domain("orgdm_1", "org_1", T + 3))) == guarded
    assert (
        calls_for(envelope("subscriptionItem.active", subscription_item("csubi_1", "user_1"), T + 3))
        == guarded
    )
    assert calls_for(envelope("subscription.active", subscription("csub_1", "org_1", T + 3))) == guarded
    assert calls_for(envelope("paymentAttempt.created", payment_attempt("cpa_1", "user_1", T + 3))) == guarded
    for event_type, data in (
        ("role.created", role("role_1", T + 3)),
        ("permission.created", permission("perm_1", T + 3)),
        ("waitlistEntry.created", waitlist_entry("wle_1", T + 3)),
    ):
        assert calls_for(envelope(event_type, data)) == {put: 2, update: 1}
    for deleted, record_id in (
        ("role", "role_1"),
        ("permission", "perm_1"),
        ("organizationDomain", "orgdm_1"),
    ):
        tombstone = envelope(f"{deleted}.deleted", {"id": record_id, "deleted": True}, T + 9)
        assert calls_for(tombstone) == {put: 2, update: 1}, deleted
    assert calls_for(envelope("user.deleted", {"id": "user_1"}, T + 9)) == {put: 2, update: 1, send: 1}
    assert calls_for(envelope("agentTask.created", {"id": "w"})) == {}
    replay = signed(envelope("user.updated", user("user_1", T + 2)), svix_id="msg_twice")
    stack.deliver(replay)
    stack.calls.clear()
    stack.deliver(replay)
    assert dict(stack.calls) == {}, "a replay in a warm container is answered from the local cache"
    assert not any(name.startswith("dynamodb.Get") or name.endswith("Query") for name in stack.calls)


def test_queue_failure_answers_5xx_and_the_retry_completes(stack):
    payload = envelope("user.created", user("user_1", T + 1))
    event = signed(payload, svix_id="msg_retry")
    env = {
        **environment(stack.tables, stack.queue_url),
        "SIDE_EFFECTS_QUEUE_URL": stack.queue_url + "-missing",
    }
    broken = build_receiver(load_config(env), stack.endpoints)
    status, body = answer(broken.handle(event, LocalContext("WebhookFunction")))
    assert status == 503 and body == {"error": "temporary failure; retry"}
    assert stack.items("IdempotencyTable") == [], "a failed attempt must not block the retry"
    status, body = stack.deliver(event)
    assert (status, body["status"]) == (200, "applied")
    assert [m["kind"] for m in stack.queued()] == ["welcome_email"]


def test_table_failure_answers_5xx_and_writes_nothing(stack):
    event = signed(envelope("user.created", user("user_1", T + 1)), svix_id="msg_ddb")
    env = {**environment(stack.tables, stack.queue_url), "USERS_TABLE": "no-such-table"}
    broken = build_receiver(load_config(env), stack.endpoints)
    assert answer(broken.handle(event, LocalContext("WebhookFunction")))[0] == 503
    assert stack.nothing_written()
    assert stack.deliver(event)[1]["status"] == "applied"


def test_in_progress_duplicate_answers_409(stack):
    from clerk_sync.adapters.dynamodb import store as store_module

    event = signed(envelope("user.created", user("user_1", T + 1)), svix_id="msg_slow")
    entered, release = threading.Event(), threading.Event()
    original = store_module.Store.apply

    def slow_apply(self, write):
        entered.set()
        release.wait(10)
        return original(self, write)

    other = stack.another_receiver()
    store_module.Store.apply = slow_apply
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(stack.deliver, event)
            assert entered.wait(10)
            store_module.Store.apply = original
            status, body = answer(other.handle(event, LocalContext("WebhookFunction")))
            release.set()
            assert first.result()[1]["status"] == "applied"
    finally:
        store_module.Store.apply = original
        release.set()
    assert status == 409 and "error" in body


DELEGATED_SMS = {
    "object": "sms_message",
    "id": "sms_1",
    "to_phone_number": "+12015550123",
    "message": "482913 is your verification code",
    "delivered_by_clerk": False,
}


def test_logs_carry_ids_and_outcomes_but_no_personal_data(stack):
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    try:
        stack.deliver(signed(envelope("user.created", user("user_1", T + 1)), svix_id="msg_logged"))
        stack.deliver(signed(envelope("session.created", session("sess_1", "user_1", T + 2))))
        stack.deliver(signed(envelope("sms.created", DELEGATED_SMS), svix_id="msg_sms_logged"))
        stack.deliver(signed(b"not json"))
    finally:
        logger.registered_handler.setStream(previous)
    out = buffer.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"level"' in line]
    delivery = next(line for line in lines if line.get("svix_id") == "msg_logged")
    assert delivery["type"] == "user.created" and delivery["outcome"] == "applied"
    assert delivery["entity_id"] == "user_1" and delivery["status_code"] == 200
    sms = next(line for line in lines if line.get("svix_id") == "msg_sms_logged")
    assert (sms["type"], sms["outcome"], sms["entity_id"]) == ("sms.created", "applied", "sms_1")
    for secret in ("ann@example.com", "+15550100", "203.0.113.9", "Berlin", "Lee", "Mozilla"):
        assert secret not in out
    for secret in (DELEGATED_SMS["to_phone_number"], DELEGATED_SMS["message"], "482913"):
        assert secret not in out
