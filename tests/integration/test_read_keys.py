"""Keys no DynamoDB table can hold, on both engines: every public read refuses one with a ValueError that
names the argument (never its value), before any request; a key at DynamoDB's limit is read.

DynamoDB Local answers a partition key over 2,048 bytes with a ValidationException, moto with nothing:
only the check before the request makes the two agree. Every argument of the read library is a table's
or an index's partition key (none is a sort key), so 2,048 UTF-8 bytes is the limit of each."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from clerk_sync.domain.key_limits import MAX_PARTITION_KEY_BYTES
from clerk_sync.domain.tables import TABLES
from clerk_sync.read import ClerkData

CALLS = [
    ("user", "user_id", "user_"),
    ("user_by_email", "email", "a@"),
    ("organization", "organization_id", "org_"),
    ("organization_by_slug", "slug", "s"),
    ("members", "organization_id", "org_"),
    ("organizations_of", "user_id", "user_"),
    ("sessions_of", "user_id", "user_"),
    ("ensure_user", "user_id", "user_"),
    ("ensure_organization", "organization_id", "org_"),
    ("invitations_of", "organization_id", "org_"),
    ("invitations_for", "email_address", "a@"),
    ("role", "role_id", "role_"),
    ("role_by_key", "key", "org:"),
    ("permission", "permission_id", "perm_"),
    ("permission_by_key", "key", "org:"),
    ("domains_of", "organization_id", "org_"),
    ("domains_named", "name", "d."),
    ("waitlist_entry", "email_address", "a@"),
    ("subscription_items_of", "payer", "user_"),
    ("subscription_items_of", "payer", "org_"),
    ("entitlements", "payer", "user_"),
    ("entitlements", "payer", "org_"),
]


def key(prefix: str, size: int) -> str:
    """A key of exactly `size` UTF-8 bytes, mostly of two-byte characters: bytes are what DynamoDB
    counts (the oversized keys here have far fewer than 2,048 characters)."""
    pairs, odd = divmod(size - len(prefix), 2)
    return prefix + "é" * pairs + "x" * odd


@pytest.fixture(scope="module")
def tables(backend: Any) -> dict[str, str]:
    """One fresh set of tables per engine, holding a user and an organization whose ids are at the limit
    (so that `ensure_*` find them and never ask Clerk)."""
    provisioned = dict(backend.fresh("read-keys").tables)
    client = backend.dynamodb()
    for template_id, prefix in (("UsersTable", "user_"), ("OrganizationsTable", "org_")):
        item = {"id": {"S": key(prefix, MAX_PARTITION_KEY_BYTES)}, "version": {"N": "1"}}
        client.put_item(TableName=provisioned[template_id], Item=item)
    return provisioned


def reader(backend: Any, tables: dict[str, str], calls: Counter[str]) -> ClerkData:
    """A ClerkData over the tables whose every DynamoDB call is counted (before it is sent)."""
    session = boto3.session.Session(region_name=backend.region)
    session.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return ClerkData(
        tables={table: tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=backend.dynamodb_endpoint,
        session=session,
    )


def read(data: ClerkData, method: str, value: str) -> Any:
    """The method's answer, a list of a generator's items (a generator checks its key when first read)."""
    result = getattr(data, method)(value)
    return list(result) if hasattr(result, "__next__") else result


@pytest.mark.parametrize(("method", "name", "prefix"), CALLS)
def test_a_key_over_the_limit_is_refused_before_any_request(backend, tables, method, name, prefix):
    calls: Counter[str] = Counter()
    oversized = key(prefix, MAX_PARTITION_KEY_BYTES + 1)
    with pytest.raises(ValueError, match=rf"^{name}: longer than a DynamoDB key holds \(2048 bytes\)$"):
        read(reader(backend, tables, calls), method, oversized)
    assert calls == Counter()


@pytest.mark.parametrize(("method", "name", "prefix"), CALLS)
def test_a_key_at_the_limit_is_read(backend, tables, method, name, prefix):
    calls: Counter[str] = Counter()
    at_limit = key(prefix, MAX_PARTITION_KEY_BYTES)
    answer = read(reader(backend, tables, calls), method, at_limit)
    assert calls, "the key was read from DynamoDB"
    if method in ("user", "ensure_user", "organization", "ensure_organization"):
        assert answer is not None and answer.id == at_limit
