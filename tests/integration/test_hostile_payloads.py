"""Signed but hostile or drifted payloads, on both engines: the same 400 on every retry with nothing
written (no idempotency record either), and neither the answer nor a log line shows the value.

DynamoDB Local's refusals are the real ones (key sizes, numbers), so each case runs there too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from builders import SECRET_KEY, envelope, lambda_event, membership, organization, signed, user
from clerk_sync.domain.signature import sign
from clerk_sync.domain.tables import Table
from clerk_sync.observability import metrics
from stacks import Stack

T = 1_732_000_000_100
NOW_ID = "msg_2Lbt8vH3bRCv4XgFuuT3yNz3JRT"
MARK = "zqxj-hostile"  # in every hostile value: found wherever it would be echoed
HUGE = MARK + "x" * 500_000


def refused_twice(
    stack: Stack, capsys: pytest.CaptureFixture[str], event: dict[str, Any], reason: str
) -> None:
    """The delivery is refused with `reason`, the same twice (Svix retries), with nothing written and no
    AWS call at all; the answer is small and neither it nor any log line carries the marked value."""
    capsys.readouterr()
    stack.calls.clear()
    first = stack.deliver(event)
    again = stack.deliver(event)
    assert first == again == (400, {"error": reason}), first
    assert sum(stack.calls.values()) == 0, stack.calls
    assert stack.nothing_written()
    output = capsys.readouterr().out
    assert MARK not in output and MARK not in json.dumps(first)
    assert len(json.dumps(first[1])) < 200


def with_data(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**data, **changes}


# --- values that become keys, answers, log fields -----------------------------------------------


@pytest.mark.parametrize(
    "bad_id", [HUGE, [MARK] * 60_000, {"email": f"ann.{MARK}@example.com"}], ids=["500KB", "list", "object"]
)
def test_a_membership_deletion_whose_id_is_not_a_clerk_id_is_refused_not_looped(stack, capsys, bad_id):
    # was: the tombstone written, then an answer too large for the idempotency record: 503 forever
    deletion = envelope(
        "organizationMembership.deleted", with_data(membership("org_1", "user_1", T), id=bad_id), T
    )
    refused_twice(stack, capsys, signed(deletion, svix_id=NOW_ID), "data.id: not a Clerk id")


def test_a_user_whose_id_is_an_object_is_refused_without_echo(stack, capsys):
    created = envelope(
        "user.created", with_data(user("user_1", T), id={"email": f"ann.{MARK}@example.com"}), T
    )
    refused_twice(stack, capsys, signed(created, svix_id=NOW_ID), "data.id: not a Clerk id")


@pytest.mark.parametrize(
    "bad_type", [f"ann.{MARK}@example.com", MARK + "." + "y" * 600_000], ids=["address", "600KB"]
)
def test_a_type_that_is_no_event_type_name_is_refused_without_echo(stack, capsys, bad_type):
    event = envelope("user.created", user("user_1", T), T)
    event["type"] = bad_type
    refused_twice(stack, capsys, signed(event, svix_id=NOW_ID), "type: not an event type name")


def test_an_unknown_type_is_acknowledged_under_one_metric_dimension_and_its_id_shown_only_if_valid(
    stack, capsys
):
    metrics.clear_metrics()
    capsys.readouterr()
    for n, (event_type, data_id) in enumerate([("agentTask.created", HUGE), ("fooBar.updated", "agt_1")]):
        status, body = stack.deliver(signed(envelope(event_type, {"id": data_id}, T), svix_id=f"msg_{n}"))
        assert (status, body) == (
            200,
            {"status": "ignored", "type": event_type, "id": None if n == 0 else "agt_1"},
        )
    out = capsys.readouterr().out
    assert MARK not in out
    dimensions = [json.loads(line)["type"] for line in out.splitlines() if '"Deliveries"' in line]
    assert dimensions == ["other", "other"]  # a new type string is not a new dimension value
    assert stack.nothing_written()


def test_a_svix_id_that_is_no_message_id_is_refused_before_anything_is_written(stack, capsys):
    # was: the user applied, then the welcome e-mail's claim key over DynamoDB's limit, failing every 180 s
    created = envelope("user.created", user("user_1", T), T)
    refused_twice(
        stack, capsys, signed(created, svix_id="msg_" + MARK + "z" * 10_000), "svix-id: not a Svix message id"
    )


def test_an_index_key_longer_than_dynamodb_holds_is_refused_naming_the_field(stack, capsys):
    created = envelope("organization.created", with_data(organization("org_1", T), slug=MARK + "s" * 3000), T)
    refused_twice(
        stack, capsys, signed(created, svix_id=NOW_ID), "data.slug: longer than a key holds (2048 bytes)"
    )


# --- effects the worker could never handle --------------------------------------------------------


def delegated_email(**changes: Any) -> dict[str, Any]:
    data = {
        "object": "email",
        "id": "ema_1",
        "to_email_address": "someone@example.com",
        "subject": "Your code",
        "body": "<p>123456</p>",
        "delivered_by_clerk": False,
    }
    return envelope("email.created", {**data, **changes}, T)


@pytest.mark.parametrize("subject", [None, 42, ""], ids=["missing", "number", "empty"])
def test_a_delegated_email_without_a_subject_is_refused_now_not_poisoned_later(stack, capsys, subject):
    event = delegated_email(subject=subject)
    refused_twice(stack, capsys, signed(event, svix_id=NOW_ID), "data.subject: expected a non-empty string")


def test_a_delegated_sms_without_a_message_is_refused(stack, capsys):
    data = {
        "object": "sms_message",
        "id": "sms_1",
        "to_phone_number": "+15550100",
        "delivered_by_clerk": False,
    }
    event = envelope("sms.created", data, T)
    refused_twice(stack, capsys, signed(event, svix_id=NOW_ID), "missing data.message")


# --- bytes, events and numbers --------------------------------------------------------------------


def test_a_signed_body_that_is_not_utf8_is_a_rejected_payload_not_a_signature_failure(stack, capsys):
    metrics.clear_metrics()
    body = json.dumps(envelope("user.created", user("user_1", T), T)).encode("utf-16")
    refused_twice(stack, capsys, signed(body, svix_id=NOW_ID, base64_body=True), "body is not UTF-8")
    counted = metrics.serialize_metric_set()
    assert "RejectedPayload" in counted and "SignatureFailures" not in counted
    metrics.clear_metrics()


def direct(event: object) -> Any:
    return event


@pytest.mark.parametrize(
    "event",
    [
        None,
        [1, 2],
        {"requestContext": {"http": "POST"}, "rawPath": "/webhooks/clerk"},
        {"requestContext": "x", "rawPath": "/webhooks/clerk"},
        {"rawPath": "/webhooks/clerk", "requestContext": {"http": {"method": "POST"}}, "headers": ["a"]},
        {"rawPath": "/webhooks/clerk", "requestContext": {"http": {"method": "POST"}}, "body": 12},
        {"rawPath": ["/webhooks/clerk"], "requestContext": {"http": {"method": "POST"}}},
    ],
    ids=["none", "list", "http-string", "context-string", "headers-list", "body-int", "path-list"],
)
def test_a_malformed_direct_invocation_is_a_400_never_an_exception(stack, capsys, event):
    refused_twice(stack, capsys, direct(event), "not an HTTP API or Function URL request")


def test_a_header_value_that_is_not_a_string_is_a_missing_header_not_the_text_none(stack, capsys):
    body = json.dumps(envelope("user.created", user("user_1", T), T)).encode()
    headers = {
        "svix-id": NOW_ID,
        "svix-timestamp": str(T // 1000),
        "svix-signature": sign(SECRET_KEY, NOW_ID, T // 1000, body),
    }
    event = lambda_event(body, headers)
    event["headers"]["svix-id"] = None
    refused_twice(stack, capsys, event, "missing svix-id")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("6.391608280039089e105", "data.members_count: expected a number DynamoDB can store and return"),
        ("1e38", "data.members_count: expected a number DynamoDB can store and return"),
        ("1e-400", "body: a number that cannot be kept as sent (at most 17 digits)"),
        ("3.14159265358979323846", "body: a number that cannot be kept as sent (at most 17 digits)"),
    ],
)
def test_a_number_that_could_not_be_read_back_or_kept_is_refused(stack, capsys, raw, reason):
    # was: 6.39e105 stored as a 106-digit integer that made the whole table unreadable (decimal.Rounded)
    text = json.dumps(
        envelope("organization.created", with_data(organization("org_1", T), members_count=0), T)
    )
    body = text.replace('"members_count": 0', f'"members_count": {raw}').encode()
    capsys.readouterr()
    stack.calls.clear()
    first, again = stack.deliver(signed(body, svix_id=NOW_ID)), stack.deliver(signed(body, svix_id=NOW_ID))
    assert first == again and first[0] == 400 and first[1]["error"].startswith(reason), first
    assert sum(stack.calls.values()) == 0 and stack.nothing_written()


EDGES = [
    9.999999999999998e37,
    -9.999999999999998e37,
    1e-130,
    -1e-130,
    1.2345678901234567e-100,
    0.1,
    10**38 - 1,
]


def as_sent(value: float | int) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def test_numbers_at_the_edges_are_stored_and_read_back_as_sent(stack):
    metadata = {f"n{i}": value for i, value in enumerate(EDGES)}
    created = envelope(
        "organization.created", with_data(organization("org_1", T), public_metadata=metadata), T
    )
    assert stack.deliver(signed(created))[1]["status"] == "applied"
    [item] = stack.items("OrganizationsTable")  # boto3's deserializer: at most 38 digits, or it raises
    assert {k: Decimal(v) for k, v in item["public_metadata"].items()} == {
        k: as_sent(v) for k, v in metadata.items()
    }
    record = stack.models.for_table(Table.ORGANIZATIONS).get("org_1")  # and PynamoDB's
    assert {k: as_sent(v) for k, v in record.public_metadata.as_dict().items()} == {
        k: as_sent(v) for k, v in metadata.items()
    }
