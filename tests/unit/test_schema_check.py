"""The check of planned writes against the PynamoDB models (no I/O: it runs before any AWS call)."""

from __future__ import annotations

import functools
import json
import secrets

import pytest
from builders import envelope, membership, organization, session, user
from clerk_sync.adapters.dynamodb.models import bind_models
from clerk_sync.adapters.dynamodb.schema_check import (
    MAX_ITEM_BYTES,
    MAX_NESTING,
    SchemaCheck,
    UnstorablePayloadError,
    item_size,
    storable_number,
)
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.writes import Write
from clerk_sync.settings import read_tables

CHECK = SchemaCheck(bind_models(read_tables({})))
T = 1_732_000_000_100


def write_of(event_type: str, data: dict, timestamp: int | float | None = T) -> Write:
    body = json.dumps(envelope(event_type, data, timestamp)).encode()
    write = changes_of(parse_event(body, "msg_1", 1_732_000_000)).write
    assert write is not None
    return write


def refusal(event_type: str, data: dict, timestamp: int | float | None = T) -> str:
    with pytest.raises(UnstorablePayloadError) as caught:
        CHECK.check(write_of(event_type, data, timestamp))
    return caught.value.reason


def nested(depth: int) -> dict:
    """An object `depth` levels deep (the outermost counting as one)."""
    return functools.reduce(lambda inner, _: {"k": inner}, range(depth), 1)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("user.created", user("user_1", T)),
        ("user.updated", user("user_1", T, email=None, phone=None)),
        ("organization.created", organization("org_1", T)),
        ("organizationMembership.created", membership("org_1", "user_1", T)),
        ("session.created", session("sess_1", "user_1", T)),
    ],
)
def test_clerk_shaped_payloads_pass(event_type, data):
    CHECK.check(write_of(event_type, data))


def test_tombstones_pass():
    CHECK.check(write_of("user.deleted", {"object": "user", "id": "user_1", "deleted": True}))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("username", 123, "data.username: expected a string"),
        ("first_name", {"a": 1}, "data.first_name: expected a string"),
        ("banned", "yes", "data.banned: expected true or false"),
        ("locked", 1, "data.locked: expected true or false"),
        ("last_sign_in_at", True, "data.last_sign_in_at: expected a number"),
        ("last_active_at", "1732000000000", "data.last_active_at: expected a number"),
        ("last_active_at", float("nan"), "data.last_active_at: expected a number"),
        ("last_active_at", float("inf"), "data.last_active_at: expected a number"),
        ("last_active_at", 1e126, "data.last_active_at: expected a number"),
        ("last_active_at", 5e-324, "data.last_active_at: expected a number"),
        ("created_at", 10**38, "data.created_at: expected a number"),
        ("updated_at", 10**40, "data.updated_at: expected a number"),
        ("public_metadata", [1], "data.public_metadata: expected an object"),
        ("public_metadata", {"": 1}, "data.public_metadata: holds an empty or unencodable key"),
        ("public_metadata", {"a": [{"b": float("nan")}]}, "data.public_metadata: holds a number"),
        ("private_metadata", {"a": 10**40}, "data.private_metadata: holds a number"),
        ("unsafe_metadata", nested(MAX_NESTING + 1), "data.unsafe_metadata: nested deeper than 32"),
    ],
)
def test_user_fields_of_the_wrong_type_are_named_not_echoed(field, value, reason):
    data = user("user_1", T)
    data[field] = value
    found = refusal("user.created", data)
    assert found.startswith(reason)
    assert repr(value) not in found and str(value) not in found.split(":", 1)[1]


def test_nested_typed_fields_are_named_with_their_position():
    data = user("user_1", T)
    data["email_addresses"][0]["id"] = 7
    assert refusal("user.created", data) == "data.email_addresses.0.id: expected a string"
    data = user("user_1", T)
    data["email_addresses"][0]["verification"] = {"status": ["verified"]}
    assert refusal("user.created", data).startswith("data.email_addresses.0.verification_status:")


def test_list_of_strings_elements_are_checked():
    data = membership("org_1", "user_1", T)
    data["permissions"] = ["org:read", None]
    assert refusal("organizationMembership.created", data) == "data.permissions.1: expected a string"


def test_index_keys_must_be_non_empty_strings():
    assert refusal("organization.created", organization("org_1", T, slug="")) == (
        "data.slug: expected a non-empty string"
    )
    data = organization("org_1", T)
    data["slug"] = 5
    assert refusal("organization.created", data) == "data.slug: expected a non-empty string"


def test_empty_strings_are_fine_outside_keys():
    """AWS stores them since 2020 (the DynamoDB Local build used here does not: its refusal is a 400 too)."""
    CHECK.check(write_of("user.created", user("user_1", T, first_name="")))


def test_the_deletion_time_is_named_after_the_envelope_timestamp():
    reason = refusal("user.deleted", {"id": "user_1", "deleted": True}, timestamp=1e300)
    assert reason.startswith("timestamp: expected a number")


def test_nesting_up_to_dynamodbs_limit_passes():
    data = user("user_1", T)
    data["public_metadata"] = nested(MAX_NESTING)
    CHECK.check(write_of("user.created", data))


def test_records_over_the_item_size_limit_are_refused_naming_the_largest_field():
    data = user("user_1", T)
    data["public_metadata"] = {"notes": "x" * MAX_ITEM_BYTES}
    assert refusal("user.created", data) == (
        "data.public_metadata: too large (the record would exceed DynamoDB's 400 KB)"
    )
    data["public_metadata"] = {"notes": "x" * (MAX_ITEM_BYTES - 2_000)}
    CHECK.check(write_of("user.created", data))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0, True),
        (-(10**37), True),
        (int("9" * 38), True),
        (int("9" * 39), False),
        (10**38, False),  # 39 digits as written: boto3 cannot read it back
        (1.5, True),
        (-0.0, True),
        (1e-130, True),
        (1e-131, False),
        (9.999999999999998e37, True),  # the float below 1e38: 38 digits as DynamoDB returns it
        (-9.999999999999998e37, True),
        (1e38, False),  # 39 digits as DynamoDB returns it: boto3 cannot read it back
        (6.391608280039089e105, False),  # stored by both engines, unreadable (decimal.Rounded)
        (9.99e125, False),
        (1e126, False),
        (float("-inf"), False),
        (True, False),
        ("1", False),
        (None, False),
    ],
)
def test_storable_numbers(value, ok):
    assert storable_number(value) is ok


def test_item_size_counts_utf8_bytes_names_and_containers():
    assert item_size("é") == 2
    assert item_size({"ab": "cd"}) > 4 and item_size([1, 2]) > 2
    assert item_size({"k": "x" * 1000}) >= 1001


def test_the_complete_object_counts_toward_the_item_size_limit():
    data = user("user_1", T)
    data["attachment_2027"] = secrets.token_urlsafe(450_000)  # 600 KB that compresses to ≈450 KB
    assert refusal("user.created", data) == "data: too large (the record would exceed DynamoDB's 400 KB)"
    data["attachment_2027"] = secrets.token_urlsafe(200_000)
    CHECK.check(write_of("user.created", data))
