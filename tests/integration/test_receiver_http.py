"""The request flow end to end against real engines: statuses, signatures, nothing written on rejection."""

from __future__ import annotations

import json
import time

import pytest
from builders import (
    OTHER_KEY,
    OTHER_SECRET,
    SECRET,
    SECRET_KEY,
    envelope,
    fresh_id,
    lambda_event,
    signed,
    user,
)
from clerk_sync.domain.signature import sign
from clerk_sync_local.stack.context import LocalContext


def created(user_id: str = "user_1", updated_at: int = 1_732_000_000_100) -> dict:
    return envelope("user.created", user(user_id, updated_at), 1_732_000_000_100)


def request_with(headers: dict[str, str], body: bytes, **kwargs) -> dict:
    return lambda_event(body, headers, **kwargs)


def good_headers(
    body: bytes, *, key: bytes = SECRET_KEY, msg_id: str = "msg_1", ts: int | None = None
) -> dict:
    stamp = int(time.time()) if ts is None else ts
    return {"svix-id": msg_id, "svix-timestamp": str(stamp), "svix-signature": sign(key, msg_id, stamp, body)}


def test_a_signed_user_created_is_stored_and_queues_a_welcome(stack):
    status, body = stack.deliver(signed(created()))
    assert (status, body) == (200, {"status": "applied", "type": "user.created", "id": "user_1"})
    [stored] = stack.items("UsersTable")
    assert stored["email"] == "ann@example.com" and stored["first_name"] == "Ann"
    [message] = stack.queued()
    assert message["kind"] == "welcome_email" and message["user_id"] == "user_1"


def test_base64_bodies_are_decoded_before_verification(stack):
    status, body = stack.deliver(signed(created(), base64_body=True))
    assert status == 200 and body["status"] == "applied"


def test_mixed_case_header_names_are_accepted(stack):
    payload = json.dumps(created()).encode()
    headers = {k.upper() if i % 2 else k.title(): v for i, (k, v) in enumerate(good_headers(payload).items())}
    assert stack.deliver(request_with(headers, payload))[0] == 200


def test_rotation_accepts_either_secret(stack):
    receiver = stack.another_receiver(f"{SECRET}, {OTHER_SECRET}")
    for key, user_id in ((SECRET_KEY, "user_a"), (OTHER_KEY, "user_b")):
        response = receiver.handle(signed(created(user_id), key=key), LocalContext("WebhookFunction"))
        assert response["statusCode"] == 200
    payload = json.dumps(created("user_c")).encode()
    both = good_headers(payload, key=OTHER_KEY)
    both["svix-signature"] = "v1,AAAA " + both["svix-signature"]
    assert receiver.handle(request_with(both, payload), LocalContext("WebhookFunction"))["statusCode"] == 200
    assert {u["id"] for u in stack.items("UsersTable")} == {"user_a", "user_b", "user_c"}


def _mutations() -> list[tuple[str, int, object]]:
    now = int(time.time())
    payload = json.dumps(created()).encode()
    good = good_headers(payload, ts=now)

    def without(name):
        return {k: v for k, v in good.items() if k != name}

    cases: list[tuple[str, int, object]] = [
        ("missing svix-id", 400, (without("svix-id"), payload)),
        ("missing svix-timestamp", 400, (without("svix-timestamp"), payload)),
        ("missing svix-signature", 400, (without("svix-signature"), payload)),
        ("empty svix-signature", 400, ({**good, "svix-signature": ""}, payload)),
        ("mutated body", 401, (good, payload.replace(b"Ann", b"Bob"))),
        ("mutated id", 401, ({**good, "svix-id": "msg_2"}, payload)),
        ("mutated timestamp", 401, ({**good, "svix-timestamp": str(now + 1)}, payload)),
        ("wrong secret", 401, (good_headers(payload, key=OTHER_KEY, ts=now), payload)),
        ("too old", 401, (good_headers(payload, ts=now - 301), payload)),
        ("too new", 401, (good_headers(payload, ts=now + 301), payload)),
        ("not a number", 401, ({**good, "svix-timestamp": "yesterday"}, payload)),
        ("no comma", 401, ({**good, "svix-signature": "v1" + good["svix-signature"][3:]}, payload)),
        (
            "unknown scheme only",
            401,
            ({**good, "svix-signature": "v1a," + good["svix-signature"][3:]}, payload),
        ),
        ("bad base64", 401, ({**good, "svix-signature": "v1,%%%"}, payload)),
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_mutations())), ids=[c[0] for c in _mutations()])
def test_rejected_requests_write_nothing(stack, case):
    name, expected, (headers, body) = _mutations()[case]
    status, answer_body = stack.deliver(request_with(headers, body))
    assert status == expected, name
    assert set(answer_body) == {"error"} and "whsec" not in answer_body["error"]
    assert stack.nothing_written()


def test_tolerance_edges_are_accepted(stack):
    for offset, user_id in ((-299, "user_old"), (299, "user_new")):
        payload = json.dumps(created(user_id)).encode()
        stamp = int(time.time()) + offset
        status, _ = stack.deliver(
            request_with(good_headers(payload, ts=stamp, msg_id=fresh_id("msg")), payload)
        )
        assert status == 200


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"path": "/webhooks/other"}, 404),
        ({"path": "/"}, 404),
        ({"path": "/webhooks/clerk/"}, 404),
        ({"path": "/webhooks/clerk//"}, 404),
        ({"path": "/webhooks/clerk/extra"}, 404),
        ({"method": "GET"}, 405),
        ({"method": "PUT"}, 405),
    ],
)
def test_routing(stack, kwargs, expected):
    payload = json.dumps(created()).encode()
    assert stack.deliver(request_with(good_headers(payload), payload, **kwargs))[0] == expected
    assert stack.nothing_written()


def test_bodies_over_one_mebibyte_are_refused(stack):
    payload = json.dumps({**created(), "padding": "x" * (1024 * 1024)}).encode()
    for base64_body in (False, True):
        status, _ = stack.deliver(request_with(good_headers(payload), payload, base64_body=base64_body))
        assert status == 413
    assert stack.nothing_written()


def test_invalid_base64_is_a_bad_request(stack):
    event = signed(created(), base64_body=True)
    event["body"] = "%%%" + event["body"]
    assert stack.deliver(event)[0] == 400
    assert stack.nothing_written()


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"data": {}}',
        b'{"type": "user.created", "data": "x"}',
        json.dumps({"type": "user.updated", "data": {"id": "user_1"}}).encode(),
    ],
)
def test_verified_bodies_that_are_not_usable_events_are_bad_requests(stack, payload):
    status, body = stack.deliver(signed(payload))
    assert status == 400 and "error" in body
    assert stack.nothing_written()


def test_unknown_types_are_acknowledged_and_not_stored(stack):
    status, body = stack.deliver(signed(envelope("agentTask.created", {"id": "agt_1"})))
    assert (status, body) == (200, {"status": "ignored", "type": "agentTask.created", "id": "agt_1"})
    assert stack.nothing_written()
    assert sum(stack.calls.values()) == 0


def test_replay_answers_the_first_outcome_as_duplicate(stack):
    event = signed(created(), svix_id="msg_replayed")
    assert stack.deliver(event)[1]["status"] == "applied"
    status, body = stack.deliver(event)
    assert (status, body) == (
        200,
        {"status": "duplicate", "type": "user.created", "id": "user_1", "first": "applied"},
    )
    assert len(stack.queued()) == 1


def test_replay_from_another_container_is_answered_from_the_table(stack):
    event = signed(created(), svix_id="msg_cold")
    assert stack.deliver(event)[1]["status"] == "applied"
    response = stack.another_receiver().handle(event, LocalContext("WebhookFunction"))
    assert json.loads(response["body"])["status"] == "duplicate"
    assert len(stack.queued()) == 1 and len(stack.items("UsersTable")) == 1


def test_same_id_with_another_body_is_refused(stack):
    assert stack.deliver(signed(created(), svix_id="msg_same"))[0] == 200
    other = created()
    other["data"]["first_name"] = "Eve"
    status, body = stack.deliver(signed(other, svix_id="msg_same"))
    assert status == 400 and "different body" in body["error"]
    [stored] = stack.items("UsersTable")
    assert stored["first_name"] == "Ann"


def test_base64_and_plain_copies_of_one_delivery_are_the_same_delivery(stack):
    assert stack.deliver(signed(created(), svix_id="msg_enc"))[1]["status"] == "applied"
    assert stack.deliver(signed(created(), svix_id="msg_enc", base64_body=True))[1]["status"] == "duplicate"


def test_the_response_body_is_short_and_names_no_personal_data(stack):
    response = stack.receiver.handle(signed(created()), LocalContext("WebhookFunction"))
    assert "ann@example.com" not in response["body"] and len(response["body"]) < 200
    assert response["headers"]["content-type"] == "application/json"
