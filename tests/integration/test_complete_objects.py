"""Clerk's complete object on both engines: every bundled sample and every example payload of Clerk's
webhook spec (tests/fixtures/clerk_spec_examples/), with a field Clerk might add in 2027 at the top of its
data and inside a nested object, is stored and read back through `record.clerk` exactly (but the
deny-list); a stale delivery changes it no more than any other attribute; no deny-listed key
reaches a table."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from builders import SECRET, answer, signed
from clerk_spec_examples import spec_example, spec_example_types
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.domain.complete import DENIED, allowed, decompress
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.read import ClerkData
from clerk_sync.read.records import frozen_value
from clerk_sync.settings import load_config
from clerk_sync_local.cli import send
from clerk_sync_local.cli.overrides import Override
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.function_url import FunctionUrlServer
from clerk_sync_local.stack.functions import Invocation
from fakes.clerk_api import SECRET_KEY, FakeClerkApi
from stacks import SYNCED, Stack, environment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:clerk_backend_api.*")
FUTURE = {"favorite_color_2027": "teal"}
T0 = 1_900_000_000_000  # ms: after every sample's own times, so that each delivery applies


def live_samples() -> list[str]:
    return [t for t in sample_types() if not t.endswith(".deleted") and not t.startswith(("email.", "sms."))]


def with_future_fields(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with FUTURE at its top and inside its first nested object (one is added if it has none)."""
    changed = {**copy.deepcopy(data), **FUTURE}
    nested = next(
        (
            k
            for k, v in sorted(changed.items())
            if isinstance(v, dict) and k not in DENIED and "metadata" not in k
        ),
        None,
    )
    if nested is None:
        changed["future_object_2027"] = dict(FUTURE)
    else:
        changed[nested] = {**changed[nested], **FUTURE}
    return changed


def sample(event_type: str, at_ms: int, color: str = "teal") -> dict[str, Any]:
    envelope = json.loads((SAMPLES_DIR / f"{event_type}.json").read_text())
    data = with_future_fields(envelope["data"])
    data["favorite_color_2027"] = color
    if "updated_at" in data:
        data["updated_at"] = at_ms
    return {**envelope, "data": data, "timestamp": at_ms}


def reader(stack: Stack) -> ClerkData:
    session = boto3.session.Session(region_name=stack.endpoints.region)
    return ClerkData(
        tables={table: stack.tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=stack.endpoints.dynamodb,
        session=session,
    )


def read_back(data: ClerkData, table: Table, key: dict[str, str], item: dict[str, Any]) -> Any:
    """The record the read library returns for the written item (None: the library reads no such table)."""
    found: Iterator[Any]
    match table:
        case Table.USERS:
            return data.user(key["id"])
        case Table.ORGANIZATIONS:
            return data.organization(key["id"])
        case Table.MEMBERSHIPS:
            found = (m for m in data.members(key["organization_id"]) if m.user_id == key["user_id"])
        case Table.SESSIONS:
            found = (s for s in data.sessions_of(item["user_id"], active=False) if s.id == key["id"])
        case Table.INVITATIONS:
            found = (i for i in data.invitations_of(item["organization_id"], None) if i.id == key["id"])
        case Table.ROLES:
            return data.role(key["id"])
        case Table.PERMISSIONS:
            return data.permission(key["id"])
        case Table.DOMAINS:
            found = (d for d in data.domains_of(item["organization_id"]) if d.id == key["id"])
        case Table.WAITLIST:
            return data.waitlist_entry(item["email_address"])
        case Table.SUBSCRIPTION_ITEMS:
            found = (
                i
                for i in data.subscription_items_of(item.get("user_id") or item["organization_id"])
                if i.id == key["id"]
            )
        case _:
            return None
    return next(found)


def stored_object(stack: Stack, table: Table, key: dict[str, str]) -> Any:
    item = next(i for i in stack.items(TABLES[table].template_id) if all(i[k] == v for k, v in key.items()))
    return decompress(item[CLERK].value)


def denied_keys(value: Any, path: str = "") -> list[str]:
    """Paths of deny-listed keys in `value` (metadata, the application's own, aside)."""
    if isinstance(value, dict):
        return [
            found
            for k, v in value.items()
            for found in (
                [f"{path}.{k}"]
                if k in DENIED
                else []
                if k.endswith("_metadata")
                else denied_keys(v, f"{path}.{k}")
            )
        ]
    if isinstance(value, list):
        return [found for v in value for found in denied_keys(v, path)]
    return []


def test_every_sample_with_future_fields_reads_back_exactly_and_denied_keys_never_reach_a_table(stack):
    data = reader(stack)
    read = 0
    for n, event_type in enumerate(live_samples()):
        at = T0 + n * 1_000
        envelope = sample(event_type, at)
        status, body = stack.deliver(signed(envelope))
        assert status == 200 and body["status"] == "applied", (event_type, body)
        write = changes_of(parse_event(json.dumps(envelope).encode(), "msg_x", 0)).write
        assert write is not None
        expected = allowed(envelope["data"])
        assert expected["favorite_color_2027"] == "teal"
        assert stored_object(stack, write.table, write.key) == expected, event_type

        # a stale delivery (an older version with another color) changes nothing
        stale = sample(event_type, at - 500, color="grey")
        status, body = stack.deliver(signed(stale))
        assert status == 200 and body["status"] == "stale", (event_type, body)
        assert stored_object(stack, write.table, write.key) == expected, event_type

        record = read_back(data, write.table, write.key, write.item)
        if record is not None:
            assert record.clerk == frozen_value(expected), event_type
            assert record.clerk["favorite_color_2027"] == "teal"
            read += 1
    assert read >= 10  # every table the read library returns records of

    for logical_id in SYNCED:
        for item in stack.items(logical_id):
            if CLERK in item:
                assert not denied_keys(decompress(item[CLERK].value)), logical_id
    sessions = stack.items(TABLES[Table.SESSIONS].template_id)
    assert sessions and all("203.0.113.24" not in json.dumps(decompress(s[CLERK].value)) for s in sessions)
    invitations = stack.items(TABLES[Table.INVITATIONS].template_id)
    assert invitations and all("url" not in decompress(i[CLERK].value) for i in invitations)


@pytest.mark.parametrize("event_type", spec_example_types())
def test_every_spec_example_with_future_fields_reads_back_exactly(stack, event_type):
    """Clerk's published example of each event type, with FUTURE added: a live record keeps it
    (deny-list aside) and reads it back through `clerk`; a deletion writes a tombstone with none of it;
    a type this product does not store is answered "ignored" and writes nothing."""
    example = spec_example(event_type)
    envelope = {**example, "data": with_future_fields(example["data"])}
    status, body = stack.deliver(signed(envelope))
    assert status == 200, (event_type, body)
    changes = changes_of(parse_event(json.dumps(envelope).encode(), "msg_x", 0))
    write = changes.write
    if write is None:
        assert body["status"] == "ignored", body
        assert all(not stack.items(logical_id) for logical_id in SYNCED)
        assert not stack.queued()
        return
    assert body["status"] == "applied", body
    (item,) = stack.items(TABLES[write.table].template_id)
    if write.tombstone:
        assert item["deleted"] is True and CLERK not in item
        return
    expected = allowed(envelope["data"])
    assert expected["favorite_color_2027"] == "teal"
    assert any(isinstance(v, dict) and v.get("favorite_color_2027") == "teal" for v in expected.values())
    assert decompress(item[CLERK].value) == expected
    record = read_back(reader(stack), write.table, write.key, write.item)
    if record is not None:
        assert record.clerk == frozen_value(expected)
        assert record.clerk["favorite_color_2027"] == "teal"


@pytest.mark.parametrize("event_type", ["user.deleted", "organizationMembership.deleted"])
def test_a_tombstone_keeps_no_complete_object(stack, event_type):
    envelope = json.loads((SAMPLES_DIR / f"{event_type}.json").read_text())
    status, _ = stack.deliver(signed(envelope))
    assert status == 200
    write = changes_of(parse_event(json.dumps(envelope).encode(), "msg_x", 0)).write
    assert write is not None and write.tombstone
    (item,) = stack.items(TABLES[write.table].template_id)
    assert item["deleted"] is True and CLERK not in item


def test_the_2026_fields_are_read_typed(stack):
    data = reader(stack)
    scim = {"directory_id": "dir_1", "directory_enabled": True, "external_id": "ext_1"}
    deliveries = {
        "user.updated": {"deprovisioned": True, "scim": scim},
        "organization.updated": {"role_set_key": "role_set:default"},
        "subscriptionItem.active": {"seats": {"quantity": 12}},
    }
    member = json.loads((SAMPLES_DIR / "organizationMembership.updated.json").read_text())
    member["data"]["public_user_data"] |= {"banned": True, "deprovisioned": False}
    status, _ = stack.deliver(signed(member))
    assert status == 200
    org_of, user_of = member["data"]["organization"]["id"], member["data"]["public_user_data"]["user_id"]
    (membership,) = (m for m in data.members(org_of) if m.user_id == user_of)
    assert membership.public_user_data is not None and membership.public_user_data.banned is True
    assert membership.public_user_data.deprovisioned is False
    for event_type, added in deliveries.items():
        envelope = json.loads((SAMPLES_DIR / f"{event_type}.json").read_text())
        status, _ = stack.deliver(signed({**envelope, "data": {**envelope["data"], **added}}))
        assert status == 200, event_type
    user_id = json.loads((SAMPLES_DIR / "user.updated.json").read_text())["data"]["id"]
    user = data.user(user_id)
    assert user is not None and user.deprovisioned is True
    assert user.scim is not None and user.scim.directory_id == "dir_1" and user.scim.directory_enabled is True
    assert user.clerk["scim"] == scim
    org_id = json.loads((SAMPLES_DIR / "organization.updated.json").read_text())["data"]["id"]
    organization = data.organization(org_id)
    assert organization is not None and organization.role_set_key == "role_set:default"
    (item,) = stack.items(TABLES[Table.SUBSCRIPTION_ITEMS].template_id)
    payer = item.get("user_id") or item["organization_id"]
    (record,) = data.subscription_items_of(payer)
    assert record.seats == 12 and record.clerk["seats"] == {"quantity": 12}


def test_with_complete_objects_off_a_record_keeps_the_typed_attributes_only(stack):
    off = {**environment(stack.tables, stack.queue_url), "STORE_COMPLETE_OBJECTS": "false"}
    receiver = build_receiver(load_config(off), stack.endpoints)
    envelope = sample("user.updated", T0)
    status, body = answer(receiver.handle(signed(envelope), LocalContext("WebhookFunction")))
    assert status == 200 and body["status"] == "applied"
    (item,) = stack.items(TABLES[Table.USERS].template_id)
    assert CLERK not in item and item["first_name"] == envelope["data"]["first_name"]
    user = reader(stack).user(envelope["data"]["id"])
    assert user is not None and user.clerk == {} and user.first_name == envelope["data"]["first_name"]


@pytest.mark.parametrize("complete", [True, False])
def test_first_use_sync_follows_the_switch(stack, complete):
    with FakeClerkApi() as api:
        api.data.add_user("user_first_use_1", T0 - 60_000, T0)
        data = ClerkData(
            tables={table: stack.tables[spec.template_id] for table, spec in TABLES.items()},
            region=stack.endpoints.region,
            endpoint_url=stack.endpoints.dynamodb,
            clerk_secret_key=SECRET_KEY,
            clerk_api_url=api.url,
            store_complete_objects=complete,
        )
        user = data.ensure_user("user_first_use_1")
    assert user is not None
    (item,) = stack.items(TABLES[Table.USERS].template_id)
    assert (CLERK in item) is complete
    assert (user.clerk.get("id") == "user_first_use_1") is complete


class _Receiver:
    """The stack's receiver as the Function URL server invokes a function."""

    logical_id = "WebhookFunction"

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def invoke(self, event: dict[str, Any]) -> Invocation:
        result = self._stack.receiver.handle(event, LocalContext(self.logical_id))
        return Invocation(result=result, error=None, ms=0.0)


def test_send_add_puts_the_field_in_the_stored_complete_object(stack, tmp_path, capsys):
    """`clerk-sync send user.updated --add data.x=…` (the CLI's own body, signer and POST, through the
    dev stack's Function URL server) stores the added fields in the complete object, read back
    through `clerk`."""
    server = FunctionUrlServer(("127.0.0.1", 0), lambda line: None)
    server.function = _Receiver(stack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    added = (
        "data.favorite_color_2027=teal",
        "data.email_addresses.0.favorite_color_2027=teal",  # inside a nested object
        'data.future_object_2027.sizes=[1, {"s": true}]',  # an object created on the way
    )
    try:
        code = send.run(
            ["user.updated"],
            url=server.url,
            secret=SECRET,
            state_dir=tmp_path,
            overrides=[Override(assignment, add=True) for assignment in added],
        )
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"status":"applied"' in out.replace(" ", ""), out
    (item,) = stack.items(TABLES[Table.USERS].template_id)
    stored = decompress(item[CLERK].value)
    assert stored["favorite_color_2027"] == "teal"
    assert stored["email_addresses"][0]["favorite_color_2027"] == "teal"
    assert stored["future_object_2027"] == {"sizes": [1, {"s": True}]}
    user = reader(stack).user(item["id"])
    assert user is not None and user.clerk == frozen_value(stored)
    assert user.clerk["future_object_2027"]["sizes"][1]["s"] is True
