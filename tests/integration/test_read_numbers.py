"""A stored number boto3's own deserializer cannot read, on both engines: the read library and
`clerk-sync dump` read it, and the items around it, with every digit.

DynamoDB returns a number with all its digits: 6.391608280039089e105, stored, comes back as a 106-digit
integer, which boto3's TypeDeserializer refuses (decimal.Rounded: it keeps 38 digits). The receiver no
longer writes such numbers, but items written before, or by other tools, may hold them: here one is
put with a low-level client, as such a tool would.

moto fails on such an item itself (a 500) when a read projects attributes (an index lookup by slug, a
tombstone check): its server reads the item with boto3's deserializer. Those reads are checked on
DynamoDB Local only; the reads below without a projection, on both engines."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clerk_sync.domain.tables import TABLES
from clerk_sync.read import ClerkData
from clerk_sync_local.cli.main import main

DIGITS = "6391608280039089" + "0" * 90  # 6.391608280039089e105 as DynamoDB returns it
BIG = int(DIGITS)


@pytest.fixture(scope="module")
def tables(backend: Any) -> dict[str, str]:
    """A user in two organizations: `org_big` holds the number (as its count and in its metadata), and
    so does the user's membership of `org_ok`."""
    provisioned = dict(backend.fresh("read-numbers").tables)
    client = backend.dynamodb()
    big = {"N": DIGITS}
    put = {
        "UsersTable": [{"id": {"S": "user_n"}, "version": {"N": "1"}}],
        "OrganizationsTable": [
            {
                "id": {"S": "org_big"},
                "version": {"N": "1"},
                "slug": {"S": "big"},
                "members_count": big,
                "public_metadata": {"M": {"score": big, "history": {"L": [big, {"N": "2"}]}}},
            },
            {"id": {"S": "org_ok"}, "version": {"N": "1"}, "slug": {"S": "ok"}, "members_count": {"N": "1"}},
        ],
        "MembershipsTable": [
            {
                "organization_id": {"S": organization},
                "user_id": {"S": "user_n"},
                "version": {"N": "1"},
                "role": {"S": "org:member"},
                "public_metadata": {"M": {"score": big if organization == "org_ok" else {"N": "1"}}},
            }
            for organization in ("org_big", "org_ok")
        ],
    }
    for template_id, items in put.items():
        for item in items:
            client.put_item(TableName=provisioned[template_id], Item=item)
    return provisioned


def reader(backend: Any, tables: dict[str, str]) -> ClerkData:
    return ClerkData(
        tables={table: tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=backend.dynamodb_endpoint,
        region=backend.region,
    )


def test_the_read_library_reads_the_number_and_every_record_around_it(backend, tables):
    read = reader(backend, tables)

    organization = read.organization("org_big")
    assert organization is not None and organization.members_count == BIG
    assert organization.public_metadata == {"score": BIG, "history": (BIG, 2)}
    listed = {entry.membership.organization_id: entry for entry in read.organizations_of("user_n")}
    assert sorted(listed) == ["org_big", "org_ok"]
    assert listed["org_big"].organization == organization
    assert listed["org_ok"].membership.public_metadata == {"score": BIG}
    assert [m.public_metadata["score"] for m in read.members("org_ok")] == [BIG]
    if backend.name == "dynamodb-local":  # reads that project: moto's server fails on the item (above)
        assert read.organization_by_slug("big") == organization
        assert [m.user_id for m in read.members("org_big")] == ["user_n"]


@pytest.mark.parametrize("as_json", [False, True])
def test_dump_shows_the_number(backend, tables, as_json, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORGANIZATIONS_TABLE", tables["OrganizationsTable"])
    args = ["dump", "organizations", "--endpoint", backend.dynamodb_endpoint, "--region", backend.region]
    assert main([*args, "--state-dir", str(tmp_path), *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    if as_json:
        dumped = {item["id"]: item for item in json.loads(out)["organizations"]}
        assert dumped["org_big"]["members_count"] == BIG
        assert dumped["org_big"]["public_metadata"] == {"score": BIG, "history": [BIG, 2]}
        assert dumped["org_ok"]["members_count"] == 1
    else:
        [row] = [line for line in out.splitlines() if "org_big" in line]
        assert DIGITS in row.split() and any("org_ok" in line for line in out.splitlines())
