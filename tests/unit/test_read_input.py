"""Bad input to the read library: a clear ValueError before any request (the endpoint here is a closed
port, so a request would fail differently), and the value itself is never echoed."""

from __future__ import annotations

import pytest
from clerk_sync.read import ClerkData
from clerk_sync.settings import DEFAULT_TABLES, TABLE_VARIABLES

CALLS = [
    ("user", "user_id"),
    ("user_by_email", "email"),
    ("organization", "organization_id"),
    ("organization_by_slug", "slug"),
    ("members", "organization_id"),
    ("organizations_of", "user_id"),
    ("sessions_of", "user_id"),
    ("ensure_user", "user_id"),
    ("ensure_organization", "organization_id"),
    ("invitations_of", "organization_id"),
    ("invitations_for", "email_address"),
    ("role", "role_id"),
    ("role_by_key", "key"),
    ("permission", "permission_id"),
    ("permission_by_key", "key"),
    ("domains_of", "organization_id"),
    ("domains_named", "name"),
    ("waitlist_entry", "email_address"),
]


@pytest.fixture(scope="module")
def data() -> ClerkData:
    return ClerkData(
        tables={"users": "u", "organizations": "o", "memberships": "m", "sessions": "s"},
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
    )


@pytest.mark.parametrize(("method", "name"), CALLS)
@pytest.mark.parametrize("value", ["", None, 42])
def test_an_empty_or_non_string_key_is_refused_before_any_request(data, method, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a non-empty string$"):
        result = getattr(data, method)(value)
        list(result) if hasattr(result, "__next__") else result


@pytest.mark.parametrize("method", ["subscription_items_of", "entitlements"])
@pytest.mark.parametrize("value", ["", None, 42, "user_", "org_", "cpayer_123", "ann@example.com"])
def test_a_payer_that_is_not_a_user_or_organization_id_is_refused_before_any_request(data, method, value):
    with pytest.raises(
        ValueError, match=r"^payer must be a user id \(user_…\) or an organization id \(org_…\)$"
    ):
        result = getattr(data, method)(value)
        list(result) if hasattr(result, "__next__") else result


def test_from_environment_reads_every_tables_variable():
    environ = {variable: f"t-{name}" for name, variable in TABLE_VARIABLES.items()}
    read = ClerkData.from_environment({**environ, "AWS_DEFAULT_REGION": "us-east-1"})
    for name in TABLE_VARIABLES:
        expected = DEFAULT_TABLES["IDEMPOTENCY_TABLE"] if name == "idempotency" else f"t-{name}"
        assert read.tables.named(name) == expected, name  # (the receiver's own table is never read)
