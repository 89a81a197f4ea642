"""Permanent payload problems on both engines: 400 naming the field, nothing written, counted."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from builders import envelope, membership, organization, session, signed, user
from clerk_sync.adapters.dynamodb.schema_check import SchemaCheck
from clerk_sync.domain.tables import Table
from clerk_sync.observability import metrics

T = 1_732_000_000_100


def with_field(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return data


def deep(depth: int) -> dict[str, Any]:
    return functools.reduce(lambda inner, _: {"k": inner}, range(depth), {})  # type: ignore[arg-type]


CASES = [
    ("user.created", user("user_1", T), "username", 123, "data.username: expected a string"),
    ("user.updated", user("user_1", T), "updated_at", 10**40, "data.updated_at: expected a number"),
    ("user.created", user("user_1", T), "last_active_at", float("nan"), "data.last_active_at: expected"),
    ("user.created", user("user_1", T), "public_metadata", {"": 1}, "data.public_metadata: holds an empty"),
    ("user.created", user("user_1", T), "private_metadata", deep(40), "data.private_metadata: nested"),
    ("user.created", user("user_1", T), "email_addresses.0.id", [], "data.email_addresses.0.id: expected"),
    ("organization.created", organization("org_1", T), "slug", "", "data.slug: expected a non-empty"),
    ("organization.updated", organization("org_1", T), "members_count", "2", "data.members_count: expected"),
    (
        "organizationMembership.created",
        membership("org_1", "user_1", T),
        "permissions",
        ["a", 1],
        "data.permissions.1: expected a string",
    ),
    ("session.created", session("sess_1", "user_1", T), "expire_at", 1e300, "data.expire_at: expected"),
]


def deliveries(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Deliveries"' in line]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_a_field_the_schema_cannot_store_is_a_400_naming_it_and_nothing_is_written(stack, capsys, case):
    event_type, data, path, value, reason = case
    metrics.clear_metrics()
    capsys.readouterr()
    stack.calls.clear()
    status, body = stack.deliver(signed(envelope(event_type, with_field(data, path, value), T)))
    assert status == 400 and body["error"].startswith(reason), body
    assert json.dumps(value) not in body["error"].split(":", 1)[1]
    assert sum(stack.calls.values()) == 0  # refused before the idempotency record
    assert stack.nothing_written()
    assert "RejectedPayload" in metrics.serialize_metric_set()
    [counted] = deliveries(capsys)
    assert (counted["type"], counted["outcome"]) == (event_type, "rejected_payload")
    metrics.clear_metrics()


def test_an_envelope_timestamp_that_cannot_be_a_version_is_a_400(stack):
    deletion = envelope("user.deleted", {"object": "user", "id": "user_1", "deleted": True}, T)
    deletion["timestamp"] = 10**40
    status, body = stack.deliver(signed(deletion))
    assert status == 400 and body["error"].startswith("timestamp: expected a number")
    assert stack.nothing_written()


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),  # json.loads alone would take it
        lambda text: text.encode("utf-32"),
        lambda text: text.encode("utf-8").replace(b"Jane", b"J\xe9ane"),  # latin-1 inside UTF-8
    ],
    ids=["utf-16", "utf-32", "invalid-utf-8"],
)
def test_a_signed_body_that_is_not_utf8_is_a_400_not_a_401_and_nothing_is_written(stack, encode):
    # the signature covers the raw bytes (Standard Webhooks): a good one over such a body verifies,
    # and the body is then a payload problem, the same on every retry
    text = json.dumps(envelope("user.created", {**user("user_1", T), "first_name": "Jane"}, T))
    stack.calls.clear()
    status, body = stack.deliver(signed(encode(text), base64_body=True))
    assert (status, body) == (400, {"error": "body is not UTF-8"})
    assert sum(stack.calls.values()) == 0
    assert stack.nothing_written()


def test_events_missing_what_applying_needs_are_counted_as_rejected_payloads(stack, capsys):
    metrics.clear_metrics()
    capsys.readouterr()
    status, _ = stack.deliver(signed(envelope("user.updated", {"id": "user_1"}, T)))
    assert status == 400 and stack.nothing_written()
    assert "RejectedPayload" in metrics.serialize_metric_set()
    [counted] = deliveries(capsys)
    assert counted["outcome"] == "rejected_payload"
    metrics.clear_metrics()


@pytest.mark.parametrize(
    ("event_type", "data", "path", "value"),
    [
        ("organization.created", organization("org_1", T), "slug", ""),  # a PutItem
        ("session.created", session("sess_1", "user_1", T), "expire_at", float("nan")),  # a transaction
        ("user.created", user("user_1", T), "username", 123),  # refused by botocore, before sending
    ],
    ids=["put", "transaction", "parameter-validation"],
)
def test_a_write_dynamodb_refuses_as_invalid_is_a_400_and_leaves_nothing(
    stack, monkeypatch, capsys, event_type, data, path, value
):
    """The safety net under the check: Powertools deletes its in-progress record when the write fails."""
    monkeypatch.setattr(SchemaCheck, "check", lambda self, write: None)
    metrics.clear_metrics()
    capsys.readouterr()
    status, body = stack.deliver(signed(envelope(event_type, with_field(data, path, value), T)))
    assert (status, body) == (400, {"error": "data: the record was refused by DynamoDB as invalid"})
    assert stack.calls["dynamodb.PutItem"] >= 1 and stack.calls["dynamodb.DeleteItem"] == 1
    assert stack.nothing_written()
    assert "RejectedPayload" in metrics.serialize_metric_set()
    out = capsys.readouterr().out
    assert json.dumps(value) not in out.replace('"status_code": 400', "")
    metrics.clear_metrics()


def test_after_a_rejection_the_corrected_event_is_applied(stack):
    bad = user("user_1", T)
    bad["username"] = 123
    assert stack.deliver(signed(envelope("user.created", bad, T), svix_id="msg_fixed"))[0] == 400
    good = user("user_1", T + 1)
    status, body = stack.deliver(signed(envelope("user.created", good, T), svix_id="msg_fixed"))
    assert (status, body["status"]) == (200, "applied")
    assert stack.models.for_table(Table.USERS).get("user_1").first_name == "Ann"
