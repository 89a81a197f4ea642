"""Backfill and reconcile against a fake Clerk Backend API (real HTTP) and both DynamoDB engines."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from builders import (
    domain,
    envelope,
    membership,
    permission,
    role,
    signed,
    subscription_item,
    user,
    waitlist_entry,
)
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.adapters.clerk import api as clerk_api
from clerk_sync.adapters.clerk.api import ClerkApi
from clerk_sync.adapters.clerk.listings import LISTINGS
from clerk_sync.adapters.clerk.retry import RetryPolicy
from clerk_sync.backfill.build import Settings, build_backfill
from clerk_sync.backfill.report import KindCounts, SilentProgress, Summary, format_summary
from clerk_sync.backfill.run import Backfill, Options
from clerk_sync.domain.complete import allowed, decompress
from clerk_sync.domain.entities.subscription_items import item_version
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.settings import read_tables
from clerk_sync_local.cli import backfill as backfill_cli
from fakes.clerk_api import (
    BASE_MS,
    SECRET_KEY,
    ClerkData,
    FakeClerkApi,
    clerk_domain,
    clerk_role,
    clerk_user,
    clerk_waitlist_entry,
    populate,
    populate_every_kind,
)
from stacks import Stack, environment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:clerk_backend_api.*")
WRITES = ("PutItem", "TransactWriteItems", "UpdateItem", "DeleteItem", "BatchWriteItem")
QUICK = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)
USERS, ORGANIZATIONS, MEMBERS_PER_ORG = 2_500, 60, 5
_deserialize = TypeDeserializer().deserialize


@dataclass
class Rig:
    """A receiver stack, a fake Clerk API, and backfills over the stack's tables with counted writes."""

    stack: Stack
    api: FakeClerkApi
    calls: Counter[str] = field(default_factory=Counter)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """Calls on the synced tables (not the run records in the idempotency table)."""
        tables = {params.get("TableName"), *params.get("RequestItems", {})} - {None}
        if tables - {self.stack.tables["IdempotencyTable"]} or not tables:
            self.calls[model.name] += 1

    def settings(self, secret_key: str = SECRET_KEY, api_url: str | None = None) -> Settings:
        return Settings(
            secret_key=secret_key,
            tables=read_tables(environment(self.stack.tables, self.stack.queue_url)),
            api_url=api_url or self.api.url,
            endpoints=Endpoints(dynamodb=self.stack.endpoints.dynamodb, region=self.stack.endpoints.region),
            retry=QUICK,
        )

    def backfill(self, secret_key: str = SECRET_KEY, api_url: str | None = None) -> Backfill:
        return build_backfill(
            self.settings(secret_key, api_url), hooks=[("provide-client-params", self._count)]
        )

    def run(self, **options: Any) -> Summary:
        self.calls.clear()
        return self.backfill().run(Options(**options))

    def writes(self) -> int:
        return sum(self.calls[name] for name in WRITES)

    def stored(self, logical_id: str) -> dict[tuple[str, ...], dict[str, Any]]:
        """Key → {version, deleted} of every record (a projected scan: moto's full scans are slow)."""
        names = ("organization_id", "user_id") if logical_id == "MembershipsTable" else ("id",)
        projection = {f"#a{i}": n for i, n in enumerate((*names, "version", "deleted"))}
        pages = self.stack.dynamodb.get_paginator("scan").paginate(
            TableName=self.stack.tables[logical_id],
            ProjectionExpression=", ".join(projection),
            ExpressionAttributeNames=projection,
        )
        out: dict[tuple[str, ...], dict[str, Any]] = {}
        for page in pages:
            for item in page["Items"]:
                out[tuple(item[n]["S"] for n in names)] = {
                    "version": int(item["version"]["N"]),
                    "deleted": item.get("deleted", {}).get("BOOL", False),
                }
        return out

    def item(self, logical_id: str, key: tuple[str, ...]) -> dict[str, Any]:
        """One whole record."""
        names = ("organization_id", "user_id") if logical_id == "MembershipsTable" else ("id",)
        answer = self.stack.dynamodb.get_item(
            TableName=self.stack.tables[logical_id],
            Key={n: {"S": v} for n, v in zip(names, key, strict=True)},
            ConsistentRead=True,
        )
        return {k: _deserialize(v) for k, v in answer["Item"].items()}


@pytest.fixture
def rig(stack: Stack) -> Iterator[Rig]:
    with FakeClerkApi() as api:
        yield Rig(stack, api)


def counts(summary: Summary, table: Table) -> dict[str, int]:
    return {action.value: n for action, n in summary.kinds[table].actions.items() if n}


def expected_keys(data: ClerkData) -> dict[Table, set[tuple[str, ...]]]:
    return {
        Table.USERS: {(u,) for u in data.users},
        Table.ORGANIZATIONS: {(o,) for o in data.organizations},
        Table.MEMBERSHIPS: set(data.memberships),
    }


def live(stored: dict[tuple[str, ...], dict[str, Any]]) -> set[tuple[str, ...]]:
    return {key for key, item in stored.items() if not item.get("deleted")}


def test_backfill_lands_everything_once_keeps_newer_webhook_data_and_reconciles(rig: Rig) -> None:
    populate(rig.api.data, USERS, ORGANIZATIONS, MEMBERS_PER_ORG)
    data = rig.api.data
    memberships = ORGANIZATIONS * MEMBERS_PER_ORG
    rig.api.fail(429, path="/v1/users", retry_after="1", skip=1)  # the first users page is rate limited
    rig.api.fail(503, path="/v1/organization_memberships")

    first = rig.run()

    assert first.failure is None and first.complete, first
    assert counts(first, Table.USERS) == {"create": USERS}
    assert counts(first, Table.ORGANIZATIONS) == {"create": ORGANIZATIONS}
    assert counts(first, Table.MEMBERSHIPS) == {"create": memberships}
    users = rig.stored("UsersTable")
    assert {k: u["version"] for k, u in users.items()} == {
        (i,): u["updated_at"] for i, u in data.users.items()
    }
    assert rig.item("UsersTable", ("user_000007",))["email"] == "user_000007@example.com"
    assert live(rig.stored("OrganizationsTable")) == expected_keys(data)[Table.ORGANIZATIONS]
    before = rig.stored("MembershipsTable")
    assert live(before) == expected_keys(data)[Table.MEMBERSHIPS]
    assert rig.api.count("/v1/users", status=429) == 1 and rig.api.count(status=503) == 1
    assert first.waits == 2 and first.waited_seconds >= 1.0  # Retry-After: 1 was honoured
    assert rig.calls["PutItem"] == USERS + ORGANIZATIONS  # one write per object, none repeated
    assert rig.calls["TransactWriteItems"] == memberships
    # count, 6 user pages, organizations, members, one (empty) page of each other kind, 2 retries
    assert first.api_requests == 1 + 6 + 1 + 1 + (len(LISTINGS) - 3) + 2

    second = rig.run()

    assert rig.writes() == 0
    assert counts(second, Table.USERS) == {"unchanged": USERS}
    assert counts(second, Table.MEMBERSHIPS) == {"unchanged": memberships}
    assert rig.calls["BatchGetItem"] <= 45  # 100 keys per read (memberships also read their parents)

    # Webhooks bring newer data and deletions; other deletions' webhooks were lost.
    later = int(time.time() * 1000)
    newer = user("user_000010", later, first_name="FromWebhook", email="new@example.com")
    assert rig.stack.deliver(signed(envelope("user.updated", newer, later)))[0] == 200
    gone = {"object": "user", "id": "user_000011", "deleted": True}
    assert rig.stack.deliver(signed(envelope("user.deleted", gone, later)))[0] == 200
    left = membership("org_0001", "user_000006", later)
    assert rig.stack.deliver(signed(envelope("organizationMembership.deleted", left, later)))[0] == 200
    blocked = sum(1 for _, u in data.memberships if u == "user_000011")  # their user is tombstoned
    for user_id in ("user_000020", "user_000021", "user_000022"):
        data.remove_user(user_id)
    for org_id in ("org_0050", "org_0051"):
        data.remove_organization(org_id)
    del data.memberships[("org_0005", "user_000029")]
    lost = live(before) - set(data.memberships) - {("org_0001", "user_000006")}

    third = rig.run(reconcile=True)

    assert third.failure is None and third.complete
    assert counts(third, Table.USERS) == {"unchanged": USERS - 5, "stale": 2, "tombstone": 3}
    assert counts(third, Table.MEMBERSHIPS)["stale"] == 1 + blocked
    assert set(third.kinds[Table.USERS].tombstoned) == {("user_000020",), ("user_000021",), ("user_000022",)}
    assert set(third.kinds[Table.ORGANIZATIONS].tombstoned) == {("org_0050",), ("org_0051",)}
    assert set(third.kinds[Table.MEMBERSHIPS].tombstoned) == lost
    assert len(lost) == 3 + 2 * MEMBERS_PER_ORG + 1
    assert rig.writes() == rig.calls["PutItem"] == 3 + 2 + len(lost)  # the tombstones, nothing else
    assert rig.item("UsersTable", ("user_000010",))["first_name"] == "FromWebhook"
    users = rig.stored("UsersTable")
    assert users[("user_000010",)]["version"] == later
    assert users[("user_000011",)]["deleted"] is True
    assert live(users) == {(u,) for u in data.users} - {("user_000011",)}
    assert live(rig.stored("OrganizationsTable")) == expected_keys(data)[Table.ORGANIZATIONS]
    after = rig.stored("MembershipsTable")
    assert after[("org_0001", "user_000006")]["deleted"] is True
    assert live(after) == live(before) - lost - {("org_0001", "user_000006")}


NEW_KINDS = tuple(
    table for table in LISTINGS if table not in (Table.USERS, Table.ORGANIZATIONS, Table.MEMBERSHIPS)
)
LOGICAL_IDS = {table: TABLES[table].template_id for table in LISTINGS}


def test_every_new_kind_lands_once_yields_to_webhooks_and_reconciles_only_what_clerk_confirms(
    rig: Rig,
) -> None:
    data = rig.api.data
    expected = {Table(name): keys for name, keys in populate_every_kind(data).items()}
    assert set(expected) == set(NEW_KINDS)

    first = rig.run(page_size=3)  # several pages of each list: the billing lists come newest first

    assert first.failure is None and first.complete and first.lenient_pages == 0, first  # SDK-valid shapes
    for table in NEW_KINDS:
        assert counts(first, table) == {"create": len(expected[table])}, table
        assert live(rig.stored(LOGICAL_IDS[table])) == expected[table], table
    assert rig.item("RolesTable", ("role_1",))["permissions"] == ["org:perm_0:read"]  # objects -> keys
    assert rig.item("InvitationsTable", ("orginv_1",))["status"] == "accepted"
    assert "url" not in rig.item("InvitationsTable", ("orginv_0",))
    assert rig.item("DomainsTable", ("orgdm_2",))["verification_status"] == "verified"
    item = rig.item("SubscriptionItemsTable", ("csubi_1",))
    assert item["user_id"] == "user_000001" and item["plan_id"] == "cplan_pro"
    assert [f["slug"] for f in item["plan"]["features"]] == ["seats", "sso"]  # the API's plan features
    assert item["version"] == item_version(data.subscription_items["csubi_1"]["updated_at"], "active")
    assert rig.item("SubscriptionItemsTable", ("csubi_0",))["plan_id"] == "cplan_free"  # include_free
    pro = rig.item("PlansTable", ("cplan_pro",))
    assert pro["for_payer_type"] == "user" and pro["is_recurring"] is True and pro["publicly_visible"] is True
    assert pro["features"] == [
        {"id": f"feat_{slug}", "slug": slug, "name": slug.title(), "description": f"The {slug} feature"}
        for slug in ("seats", "sso")
    ]

    second = rig.run(page_size=3)

    assert rig.writes() == 0
    for table in NEW_KINDS:
        assert counts(second, table) == {"unchanged": len(expected[table])}, table  # plans: same content

    # Webhooks newer than Clerk's listing: backfill never overwrites them.
    later = int(time.time() * 1000)
    edited = role("role_0", later, key="org:role_0", permissions=("org:perm_1:read",))
    assert rig.stack.deliver(signed(envelope("role.updated", edited, later)))[0] == 200
    renamed = permission("perm_0", later, key="org:perm_0:read")
    assert rig.stack.deliver(signed(envelope("permission.updated", renamed, later)))[0] == 200
    canceled = subscription_item("csubi_2", "user_000000", status="canceled", plan="team")
    assert rig.stack.deliver(signed(envelope("subscriptionItem.canceled", canceled, later)))[0] == 200
    data.plans["cplan_team"]["features"].append(data.plans["cplan_pro"]["features"][1])  # a new feature

    third = rig.run(page_size=3)

    assert counts(third, Table.ROLES) == {"stale": 1, "unchanged": 2}
    assert counts(third, Table.PERMISSIONS) == {"stale": 1, "unchanged": 3}
    assert counts(third, Table.SUBSCRIPTION_ITEMS) == {"stale": 1, "unchanged": 3}
    assert counts(third, Table.PLANS) == {"update": 1, "unchanged": 2}
    assert rig.item("RolesTable", ("role_0",))["permissions"] == ["org:perm_1:read"]
    assert rig.item("SubscriptionItemsTable", ("csubi_2",))["status"] == "canceled"
    assert [f["slug"] for f in rig.item("PlansTable", ("cplan_team",))["features"]] == ["seats", "sso"]

    # Deletions whose webhooks were lost (a waitlist entry's deletion never has one); a role, a domain and
    # a waitlist entry exist although the lists missed them (created meanwhile).
    created = {
        "role.created": role("role_new", later, key="org:new"),
        "organizationDomain.created": domain("orgdm_new", "org_0000", later),
        "waitlistEntry.created": waitlist_entry("wle_new", later),
    }
    for event_type, payload in created.items():
        assert rig.stack.deliver(signed(envelope(event_type, payload, later)))[0] == 200

    def created_meanwhile(path: str, query: dict[str, list[str]]) -> None:
        if path == "/v1/organization_roles/role_new":
            data.roles.setdefault("role_new", clerk_role("role_new", later, later))
        if path == "/v1/organizations/org_0000/domains":
            data.domains.setdefault("orgdm_new", clerk_domain("orgdm_new", "org_0000", later, later))
        if query.get("query") == ["wle_new@example.com"]:
            data.waitlist.setdefault("wle_new", clerk_waitlist_entry("wle_new", later, later))

    rig.api.before_request = created_meanwhile
    removed = {
        Table.INVITATIONS: data.invitations.pop("orginv_3"),
        Table.ROLES: data.roles.pop("role_2"),
        Table.PERMISSIONS: data.permissions.pop("perm_3"),
        Table.PLANS: data.plans.pop("cplan_team"),
        Table.DOMAINS: data.domains.pop("orgdm_1"),
        Table.WAITLIST: data.waitlist.pop("wle_2"),
        Table.SUBSCRIPTION_ITEMS: data.subscription_items.pop("csubi_3"),
    }
    rig.api.reset_log()

    fourth = rig.run(page_size=3, reconcile=True)

    assert fourth.failure is None and fourth.complete
    reconciled = (
        Table.INVITATIONS,
        Table.ROLES,
        Table.PERMISSIONS,
        Table.PLANS,
        Table.DOMAINS,
        Table.WAITLIST,
    )
    for table in reconciled:
        assert fourth.kinds[table].tombstoned == [(removed[table]["id"],)], table
        assert rig.stored(LOGICAL_IDS[table])[(removed[table]["id"],)]["deleted"] is True
    assert rig.api.count("/v1/organizations/org_0001/invitations/orginv_3", status=404) == 1
    assert rig.api.count("/v1/organization_roles/role_new", status=200) == 1
    # One domain list per organization with candidates (orgdm_1's, and orgdm_new's which still has it).
    assert sorted(r.path for r in rig.api.requests if r.path.endswith("/domains")) == [
        "/v1/organizations/org_0000/domains",
        "/v1/organizations/org_0001/domains",
    ]
    queried = [r.query["query"] for r in rig.api.requests if "query" in r.query]
    assert sorted(queried) == [["wle_2@example.com"], ["wle_new@example.com"]]  # one list per address
    for table, kept in ((Table.ROLES, "role_new"), (Table.DOMAINS, "orgdm_new"), (Table.WAITLIST, "wle_new")):
        assert not rig.stored(LOGICAL_IDS[table])[(kept,)]["deleted"], table  # Clerk still has it: kept
    assert "@" not in " ".join(fourth.notes)  # waitlist addresses go to Clerk only
    stays = fourth.kinds[Table.SUBSCRIPTION_ITEMS]  # items end, never disappear: not on absence
    assert stays.tombstoned == [] and not stays.reconciled
    assert not rig.stored("SubscriptionItemsTable")[("csubi_3",)]["deleted"]
    assert any(note.startswith("subscription_items: not reconciled: ") for note in fourth.notes)
    assert rig.writes() == rig.calls["PutItem"] == 6  # the six tombstones (a tombstone checks no parent)


def test_domains_and_waitlist_entries_are_absent_only_when_their_complete_filtered_list_lacks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clerk_api, "FILTERED_PAGE_SIZE", 3)
    with FakeClerkApi() as api:
        data = api.data
        data.add_organization("org_a", BASE_MS)
        data.add_organization("org_b", BASE_MS)
        for i in range(7):  # org_a's list takes three pages of 3 (overlapping by one)
            data.domains[f"orgdm_a{i}"] = clerk_domain(f"orgdm_a{i}", "org_a", BASE_MS + i, BASE_MS + i)
        for i in range(4):  # each address also matches ann@example.com, which the filter returns too
            data.waitlist[f"wle_{i}"] = clerk_waitlist_entry(f"wle_{i}", BASE_MS + i, BASE_MS + i)
            data.waitlist[f"wle_{i}"]["email_address"] = "ann@example.com" if i else "jo.ann@example.com"
        waits: list[str] = []
        clerk = ClerkApi(SECRET_KEY, api.url, QUICK, on_wait=lambda reason, seconds: waits.append(reason))
        api.fail(503, path="/v1/waitlist_entries")  # its wait is logged: by the entry's id, not the address
        gone_domains = {
            ("orgdm_a9",): {"organization_id": "org_a"},
            ("orgdm_b",): {"organization_id": "org_b"},
        }
        domains = {
            **{(f"orgdm_a{i}",): {"organization_id": "org_a"} for i in (0, 3, 6)},
            **gone_domains,
            ("orgdm_c",): {"organization_id": "org_gone"},  # its organization answers 404
            ("orgdm_x",): {},  # no organization stored: never confirmed
        }
        entries = {
            ("wle_1",): {"email_address": "ann@example.com"},
            ("wle_9",): {"email_address": "ann@example.com"},  # the address lists others, not this one
            ("wle_8",): {"email_address": "zoe@example.com"},
            ("wle_7",): {},
        }

        assert clerk.absent(Table.DOMAINS, domains) == {*gone_domains, ("orgdm_c",)}
        assert clerk.absent(Table.WAITLIST, entries) == {("wle_9",), ("wle_8",)}
        assert [w.split(": ")[0] for w in waits] == [
            "list waitlist filtered for wle_1 and 1 more at offset 0"
        ]

        listings = Counter(r.path for r in api.requests if r.path.endswith("/domains"))
        assert listings == {
            "/v1/organizations/org_a/domains": 4,  # offsets 0, 2, 4, 6: one walk for three candidates
            "/v1/organizations/org_b/domains": 1,
            "/v1/organizations/org_gone/domains": 1,
        }
        assert Counter(r.query["query"][0] for r in api.requests if "query" in r.query) == {
            "ann@example.com": 3,  # four matches: two pages of 3, one retried
            "zoe@example.com": 1,
        }


def test_dry_run_plans_without_writing(rig: Rig) -> None:
    populate(rig.api.data, 40, 3, 2)

    plan = rig.run(dry_run=True)

    assert rig.writes() == 0 and all(not rig.stack.items(t) for t in ("UsersTable", "MembershipsTable"))
    assert counts(plan, Table.USERS) == {"create": 40} and counts(plan, Table.MEMBERSHIPS) == {"create": 6}

    rig.run()
    rig.api.data.remove_user("user_000003")
    rig.api.data.users["user_000004"]["updated_at"] += 1

    plan = rig.run(dry_run=True, reconcile=True)

    assert rig.writes() == 0
    assert counts(plan, Table.USERS) == {"update": 1, "unchanged": 38, "tombstone": 1}
    assert plan.kinds[Table.USERS].tombstoned == [("user_000003",)]
    assert not rig.stored("UsersTable")[("user_000003",)].get("deleted")


def test_bad_credentials_and_a_wrong_url_stop_at_once_with_a_clear_reason(rig: Rig) -> None:
    populate(rig.api.data, 5, 1, 1)

    summary = rig.backfill(secret_key="sk_test_wrong").run(Options())

    assert summary.failure is not None
    assert summary.failure.startswith("Clerk rejected the secret key (401 authentication_invalid")
    assert rig.api.count() == 1 and rig.writes() == 0

    wrong = rig.backfill(api_url=rig.api.url.removesuffix("/v1")).run(Options())  # /users: 404

    assert wrong.failure == "Clerk API answered 404 to list users at offset 0: is the API URL right (…/v1)?"


ORGANIZATION_KINDS = ("memberships", "invitations", "domains", "roles", "permissions")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pydantic.*")  # the SDK's 403 error model
def test_features_that_are_off_are_skipped_and_never_reconciled(rig: Rig, tmp_path: Path, capsys) -> None:
    populate_every_kind(rig.api.data)
    assert rig.run().complete  # every kind lands while the features are on
    before = {logical_id: live(rig.stored(logical_id)) for logical_id in LOGICAL_IDS.values()}
    rig.api.off = {"organizations", "billing"}
    rig.api.data.remove_user("user_000001")
    rig.api.reset_log()

    summary = rig.run(reconcile=True)

    assert summary.failure is None and summary.complete
    assert summary.skipped == {
        "organizations": "not enabled on this instance, skipped",
        **dict.fromkeys(ORGANIZATION_KINDS, "skipped, organizations not enabled on this instance"),
        "plans": "not enabled on this instance, skipped",
        "subscription_items": "skipped, plans not enabled on this instance",
    }
    assert rig.api.count("/v1/organization") == 1 and rig.api.count("/v1/billing/") == 1  # asked once each
    assert summary.kinds[Table.USERS].tombstoned == [("user_000001",)]
    assert summary.kinds[Table.WAITLIST].reconciled
    for table, logical_id in LOGICAL_IDS.items():
        if table not in (Table.USERS, Table.MEMBERSHIPS):  # memberships: their user is tombstoned, kept
            assert live(rig.stored(logical_id)) == before[logical_id], table
    assert "  organizations: not enabled on this instance, skipped" in format_summary(summary)

    code = backfill_cli.run(
        cli_args("--api-url", rig.api.url, "--state-dir", str(dev_state(rig, tmp_path))),
        {"CLERK_SECRET_KEY": SECRET_KEY},
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "  organizations: not enabled on this instance, skipped" in out
    assert "  subscription_items: skipped, plans not enabled on this instance" in out

    from clerk_sync.bootstrap.reconcile import reconcile

    env = {
        **environment(rig.stack.tables, rig.stack.queue_url),
        "CLERK_SECRET_KEY": SECRET_KEY,
        "CLERK_API_URL": rig.api.url,
    }
    result = reconcile(
        env, Endpoints(dynamodb=rig.stack.endpoints.dynamodb, region=rig.stack.endpoints.region)
    )

    assert result["complete"] and result["failure"] is None and result["skipped"] == summary.skipped
    for table, logical_id in LOGICAL_IDS.items():
        if table not in (Table.USERS, Table.MEMBERSHIPS):
            assert live(rig.stored(logical_id)) == before[logical_id], table


def test_a_403_that_is_not_a_feature_switched_off_still_stops_with_the_key_message(rig: Rig) -> None:
    populate(rig.api.data, 5, 1, 1)
    rig.api.fail(403, path="/v1/organizations")  # `internal_clerk_error`: nothing says "not enabled"

    summary = rig.run()

    assert summary.failure is not None and summary.failure.startswith("Clerk rejected the secret key (403")
    assert Table.ORGANIZATIONS not in summary.skipped


def test_unreachable_api_fails_fast(rig: Rig) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()

    summary = rig.backfill(api_url=f"http://127.0.0.1:{port}/v1").run(Options())

    assert summary.failure is not None and summary.failure.startswith("Clerk API unreachable")
    assert time.monotonic() - started < 5


def test_a_failed_run_keeps_its_writes_and_a_rerun_finishes(rig: Rig) -> None:
    populate(rig.api.data, 30, 1, 1)
    rig.api.fail(500, times=10, path="/v1/users", skip=2)  # /users/count and the first page pass

    stopped = rig.run(page_size=10)

    assert stopped.failure is not None and "kept failing" in stopped.failure
    assert len(rig.stack.items("UsersTable")) == 10

    rig.api.heal()
    resumed = rig.run(page_size=10)

    assert resumed.failure is None and resumed.complete
    assert counts(resumed, Table.USERS) == {"create": 20, "unchanged": 10}
    assert len(rig.stack.items("UsersTable")) == 30


def test_a_run_stopped_at_page_n_resumes_there_and_still_reconciles(rig: Rig, tmp_path: Path, capsys) -> None:
    populate(rig.api.data, 46, 0, 0)
    assert rig.run(kinds=(Table.USERS,)).complete
    rig.api.data.remove_user("user_000045")  # its deletion's webhook was lost
    rig.api.fail(500, times=10, path="/v1/users", skip=3)  # the count and 2 pages pass, the 3rd fails

    stopped = rig.run(page_size=10, kinds=(Table.USERS,), reconcile=True)

    assert stopped.failure is not None and "kept failing" in stopped.failure
    assert stopped.kinds[Table.USERS].pages == 2
    rig.api.heal()
    rig.api.reset_log()
    state = str(dev_state(rig, tmp_path))
    resume = cli_args("--resume", "--api-url", rig.api.url, "--state-dir", state)

    assert backfill_cli.run(resume, {"CLERK_SECRET_KEY": SECRET_KEY}, QUICK) == 0

    out, err = capsys.readouterr()
    assert f"backfill: resuming run {stopped.run_id} (failed)" in err
    lists = [int(r.query["offset"][0]) for r in rig.api.requests if r.path == "/v1/users"]
    assert lists == [18, 27, 36]  # pages 1 and 2 (offsets 0 and 9) are not read again
    assert rig.api.count("/v1/users/count") == 0
    assert rig.api.count("/v1/users/user_") == 1  # only the missing user is confirmed absent
    assert "users         read      45: created 0, updated 0, unchanged 45, stale 0, tombstoned 1" in out
    assert rig.stored("UsersTable")[("user_000045",)]["deleted"]

    assert backfill_cli.run(resume, {"CLERK_SECRET_KEY": SECRET_KEY}, QUICK) == 0
    assert "backfill: nothing to resume: every recorded run is done" in capsys.readouterr().err

    assert backfill_cli.run(cli_args("--status", "--state-dir", state), {}) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].startswith(f"run {stopped.run_id} (cli with reconcile): done, started ")
    assert status[1].split() == ["users", "done", "pages", "5", "read", "45", "written", "1", "stale", "0"]


class Interrupt(SilentProgress):
    """Ctrl-C after `pages` pages."""

    def __init__(self, pages: int) -> None:
        self.pages = pages

    def advanced(self, counts: KindCounts) -> None:
        if counts.pages == self.pages:
            raise KeyboardInterrupt


def test_an_interrupted_run_is_resumable_at_once(rig: Rig) -> None:
    populate(rig.api.data, 30, 0, 0)
    interrupted = build_backfill(rig.settings(), Interrupt(pages=2))

    with pytest.raises(KeyboardInterrupt):
        interrupted.run(Options(page_size=10, kinds=(Table.USERS,)))

    backfill = rig.backfill()
    assert backfill.journal is not None
    unfinished = backfill.journal.last_unfinished()
    assert unfinished is not None and unfinished.state == "failed"
    rig.api.reset_log()
    record = backfill.journal.claim(unfinished.run_id)
    assert record is not None

    summary = backfill.resume(record)

    assert summary.complete and counts(summary, Table.USERS) == {"create": 30}
    assert [int(r.query["offset"][0]) for r in rig.api.requests if r.path == "/v1/users"] == [18, 27]
    assert len(rig.stack.items("UsersTable")) == 30
    assert backfill.journal.last_unfinished() is None


def test_pages_the_sdk_rejects_are_read_from_raw_json(rig: Rig) -> None:
    populate(rig.api.data, 5, 1, 1)
    odd = rig.api.data.users["user_000002"]
    odd["email_addresses"][0]["verification"]["status"] = "transferable"  # not in the SDK's enum
    del odd["web3_wallets"]  # required by the SDK's User model

    summary = rig.run()

    assert summary.failure is None and summary.complete and summary.lenient_pages == 1
    assert any("SDK rejected" in note for note in summary.notes)
    assert rig.item("UsersTable", ("user_000002",))["email"] == "user_000002@example.com"


def test_malformed_objects_make_the_read_incomplete_and_block_reconcile(rig: Rig) -> None:
    populate(rig.api.data, 6, 2, 1)
    rig.run()
    rig.api.data.remove_user("user_000000")
    rig.api.data.remove_organization("org_0001")
    del rig.api.data.users["user_000001"]["updated_at"]

    summary = rig.run(reconcile=True)

    assert summary.failure is None and not summary.complete
    users = summary.kinds[Table.USERS]
    assert users.malformed == 1 and not users.complete and not users.reconciled and not users.tombstoned
    assert summary.kinds[Table.ORGANIZATIONS].tombstoned == [("org_0001",)]
    assert not rig.stored("UsersTable")[("user_000000",)].get("deleted")


def test_deletions_during_the_walk_skip_nobody(rig: Rig) -> None:
    populate(rig.api.data, 120, 1, 1)
    deleted = [f"user_{i:06d}" for i in range(3, 9)]  # 6 > the 1 object pages of 20 overlap by
    users_pages = iter(range(1_000))

    def delete_before_third_page(path: str, query: dict[str, list[str]]) -> None:
        if path == "/v1/users" and next(users_pages) == 2:
            for user_id in deleted:
                rig.api.data.users.pop(user_id)

    rig.api.before_request = delete_before_third_page

    summary = rig.run(page_size=20, reconcile=True, kinds=(Table.USERS,))

    users = summary.kinds[Table.USERS]
    assert users.backtracks >= 1 and users.complete
    stored = live(rig.stored("UsersTable"))
    assert stored == {(u,) for u in rig.api.data.users} | {(u,) for u in deleted}  # read before deletion
    assert users.tombstoned == []  # seen in this walk: the next reconcile decides

    rig.api.before_request = None
    again = rig.run(page_size=20, reconcile=True, kinds=(Table.USERS,))

    assert again.kinds[Table.USERS].tombstoned == [(u,) for u in deleted]


def test_reconcile_keeps_records_created_during_the_walk(rig: Rig) -> None:
    populate(rig.api.data, 4, 1, 1)
    newcomer = "user_new"
    now = int(time.time() * 1000)
    assert rig.stack.deliver(signed(envelope("user.created", user(newcomer, now), now)))[0] == 200

    def created_meanwhile(path: str, query: dict[str, list[str]]) -> None:
        if path == f"/v1/users/{newcomer}" and newcomer not in rig.api.data.users:
            rig.api.data.users[newcomer] = clerk_user(newcomer, now, now)

    rig.api.before_request = created_meanwhile

    summary = rig.run(reconcile=True)

    assert summary.kinds[Table.USERS].reconciled and summary.kinds[Table.USERS].tombstoned == []
    assert not rig.stored("UsersTable")[(newcomer,)].get("deleted")
    assert "users: 1 stored records missing from the list still exist in Clerk" in " ".join(summary.notes)


def test_reconcile_function_reads_its_key_from_secrets_manager(rig: Rig, moto_endpoint: str) -> None:
    import boto3
    from clerk_sync.bootstrap.reconcile import ReconcileFailed, reconcile

    populate(rig.api.data, 3, 1, 1)
    rig.run()
    rig.api.data.remove_user("user_000001")
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = secrets.create_secret(Name=f"clerk-key-{time.time_ns()}", SecretString=SECRET_KEY)["ARN"]
    env = {
        **environment(rig.stack.tables, rig.stack.queue_url),
        "CLERK_SECRET_KEY_ARN": arn,
        "CLERK_API_URL": rig.api.url,
    }
    endpoints = Endpoints(
        dynamodb=rig.stack.endpoints.dynamodb, secretsmanager=moto_endpoint, region="us-east-1"
    )

    result = reconcile(env, endpoints)

    assert result["complete"] and result["kinds"]["users"]["tombstoned_keys"] == ["user_000001"]
    assert json.dumps(result)  # a JSON-serialisable invocation result

    revoked = secrets.create_secret(Name=f"clerk-key-{time.time_ns()}", SecretString="sk_test_revoked")
    with pytest.raises(ReconcileFailed, match="Clerk rejected the secret key"):
        reconcile({**env, "CLERK_SECRET_KEY_ARN": revoked["ARN"]}, endpoints)


class BudgetContext:
    """A Lambda context whose time runs short after `questions` answers (a run asks between pages)."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:reconcile"

    def __init__(self, questions: int) -> None:
        self.questions = questions

    def get_remaining_time_in_millis(self) -> int:
        self.questions -= 1
        return 900_000 if self.questions >= 0 else 5_000  # then a few seconds are left


def test_reconcile_function_hands_a_long_run_over_and_the_follow_up_finishes_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from clerk_sync.bootstrap import reconcile as reconcile_module
    from clerk_sync.bootstrap.reconcile import reconcile

    monkeypatch.setattr(reconcile_module, "LOG_EVERY_PAGES", 2)

    populate(rig.api.data, 2_500, 4, 2)
    assert rig.run().complete
    rig.api.data.remove_user("user_000001")  # its deletion's webhook was lost
    rig.api.reset_log()
    env = {
        **environment(rig.stack.tables, rig.stack.queue_url),
        "CLERK_SECRET_KEY": SECRET_KEY,
        "CLERK_API_URL": rig.api.url,
    }
    endpoints = Endpoints(dynamodb=rig.stack.endpoints.dynamodb, region=rig.stack.endpoints.region)
    handed: list[str] = []

    first = reconcile(env, endpoints, context=BudgetContext(2), handover=handed.append)

    assert first["state"] == "handed over" and not first["complete"] and handed == [first["run_id"]]
    assert first["kinds"]["users"]["read"] == 3 * 475 + 25
    offsets = [int(r.query["offset"][0]) for r in rig.api.requests if r.path == "/v1/users"]
    assert offsets == [0, 475, 950]
    progress = [r for r in caplog.records if r.getMessage() == "reconcile progress"]
    assert [(r.kind, r.pages) for r in progress] == [("users", 2)]  # type: ignore[attr-defined]
    rig.api.reset_log()

    second = reconcile(
        env, endpoints, event={"run_id": handed[0]}, context=BudgetContext(1_000), handover=handed.append
    )

    assert second["state"] == "done" and second["complete"] and second["run_id"] == first["run_id"]
    assert handed == [first["run_id"]]  # finished: not handed over again
    offsets = [int(r.query["offset"][0]) for r in rig.api.requests if r.path == "/v1/users"]
    assert offsets == [1425, 1900, 2375]
    users = second["kinds"]["users"]
    assert users["read"] == 2_499 and users["unchanged"] == 2_499 and users["reconciled"]
    assert users["tombstoned_keys"] == ["user_000001"]  # the whole run's read, across invocations
    assert second["api_requests"] > first["api_requests"] and second["seconds"] >= first["seconds"]

    again = reconcile(
        env, endpoints, event={"run_id": handed[0]}, context=BudgetContext(1_000), handover=handed.append
    )

    assert again == {"run_id": first["run_id"], "state": "done"}


def test_the_hand_over_invokes_the_function_asynchronously_with_the_run_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against a stand-in for Lambda's Invoke API on a socket (moto's Lambda would need Docker, and a
    function in the session's moto breaks its /moto-api/data.json)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from clerk_sync.adapters.aws_clients import Clients
    from clerk_sync.bootstrap.reconcile import invoke_self

    received: list[tuple[str, str | None, bytes]] = []

    class Invoke(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["X-Amz-Invocation-Type"], body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Invoke)
    Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_address[1]}")
    context = BudgetContext(0)
    try:
        invoke_self(Clients(Endpoints(region="us-east-1")), context)("backfill:r1")
    finally:
        server.shutdown()
        server.server_close()

    [(path, invocation_type, body)] = received
    assert path == f"/2015-03-31/functions/{context.invoked_function_arn}/invocations".replace(":", "%3A")
    assert invocation_type == "Event" and json.loads(body) == {"run_id": "backfill:r1"}


# --- the command line ----------------------------------------------------------------------------


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="clerk-sync")
    backfill_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["backfill", *argv])


def dev_state(rig: Rig, directory: Path) -> Path:
    """A dev.json as a running `clerk-sync dev` publishes it (this process plays the running stack)."""
    env = environment(rig.stack.tables, rig.stack.queue_url)
    info = {
        "url": "http://127.0.0.1:3000/webhooks/clerk",
        "secret": "whsec_x",
        "region": rig.stack.endpoints.region,
        "aws_endpoint": rig.stack.endpoints.sqs,
        "dynamodb_endpoint": rig.stack.endpoints.dynamodb,
        "tables": {k: v for k, v in env.items() if k.endswith("_TABLE")},
        "queue_url": rig.stack.queue_url,
        "dead_letter_queue_url": "",
        "pid": os.getpid(),
    }
    (directory / "dev.json").write_text(json.dumps(info))
    return directory


def test_cli_runs_against_the_running_dev_stack(rig: Rig, tmp_path: Path, capsys) -> None:
    populate(rig.api.data, 12, 2, 2)
    state = dev_state(rig, tmp_path)

    code = backfill_cli.run(
        cli_args("--api-url", rig.api.url, "--state-dir", str(state)), {"CLERK_SECRET_KEY": SECRET_KEY}
    )

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "users         read      12: created 12" in out
    assert "backfill users: done: 12/12 read" in err  # plain lines: stderr is not a terminal
    assert len(rig.stack.items("MembershipsTable")) == 4


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--dry-run",), "--resume continues a run that writes: leave out --dry-run"),
        (
            ("--kinds", "users"),
            "--resume continues a run with the options it started with: leave out --kinds and --reconcile",
        ),
        (
            ("--reconcile",),
            "--resume continues a run with the options it started with: leave out --kinds and --reconcile",
        ),
    ],
)
def test_resume_refuses_options_of_its_own_before_anything_is_read(
    tmp_path: Path, capsys, extra: tuple[str, ...], expected: str
) -> None:
    args = cli_args("--resume", *extra, "--endpoint", "http://127.0.0.1:9", "--region", "us-east-1")
    assert backfill_cli.run(args, {"CLERK_SECRET_KEY": SECRET_KEY}) == 2
    assert capsys.readouterr().err.strip() == f"clerk-sync: error: {expected}"


def test_cli_failures_are_one_line_without_traceback(tmp_path: Path, capsys) -> None:
    nowhere = ("--endpoint", "http://127.0.0.1:9", "--region", "us-east-1")  # never reached
    with FakeClerkApi() as api:
        populate(api.data, 2, 1, 1)
        args = cli_args("--api-url", api.url, "--state-dir", str(tmp_path), *nowhere)

        assert backfill_cli.run(args, {}) == 2
        assert capsys.readouterr().err.strip() == (
            "clerk-sync: error: CLERK_SECRET_KEY is not set: export the instance's secret key "
            "(sk_live_… or sk_test_…)"
        )

        assert backfill_cli.run(args, {"CLERK_SECRET_KEY": "sk_test_wrong"}, QUICK) == 1
        out, err = capsys.readouterr()
        assert "Traceback" not in err + out and api.count() == 1
        assert err.splitlines()[-1].startswith("clerk-sync: error: Clerk rejected the secret key (401")

    closed = cli_args("--api-url", api.url, "--state-dir", str(tmp_path), *nowhere)  # the server is gone
    assert backfill_cli.run(closed, {"CLERK_SECRET_KEY": SECRET_KEY}, QUICK) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert err.splitlines()[-1].startswith("clerk-sync: error: Clerk API unreachable (count users)")
    assert "stopped early" in out


def test_users_are_read_oldest_first_500_at_a_time(rig: Rig) -> None:
    populate(rig.api.data, 1_000, 0, 0)

    rig.run(dry_run=True, kinds=(Table.USERS,))

    pages = [r.query for r in rig.api.requests if r.path == "/v1/users"]
    assert {q["limit"][0] for q in pages} == {"500"} and {q["order_by"][0] for q in pages} == {"+created_at"}
    assert [int(q["offset"][0]) for q in pages] == [0, 475, 950]


@pytest.mark.parametrize("complete", [True, False])
def test_backfill_stores_the_complete_object_unless_turned_off(rig: Rig, complete: bool) -> None:
    populate(rig.api.data, 3, 1, 1)
    settings = dataclasses.replace(rig.settings(), complete_objects=complete)

    build_backfill(settings).run(Options())

    for key in rig.stored("UsersTable"):
        item = rig.item("UsersTable", key)
        assert (CLERK in item) is complete
        if complete:
            assert decompress(item[CLERK].value) == allowed(rig.api.data.users[key[0]])


def test_backfill_fills_in_the_complete_object_of_records_written_without_it_once(rig: Rig) -> None:
    """Records written while complete objects were off (or before they existed) keep their version: a
    backfill with them on rewrites each at that same version with its complete object (rules.newer),
    and the next backfill finds every record unchanged."""
    populate(rig.api.data, 4, 2, 2)
    populate_every_kind(rig.api.data)
    off = dataclasses.replace(rig.settings(), complete_objects=False)
    on = dataclasses.replace(rig.settings(), complete_objects=True)
    hooks = [("provide-client-params", rig._count)]

    first = build_backfill(off).run(Options())

    assert first.failure is None and first.complete, first
    written = {t: {k: v["version"] for k, v in rig.stored(LOGICAL_IDS[t]).items()} for t in LISTINGS}
    assert sum(map(len, written.values())) > 20
    for table, versions in written.items():
        assert versions, table
        assert all(CLERK not in rig.item(LOGICAL_IDS[table], key) for key in versions), table

    rig.calls.clear()
    filled = build_backfill(on, hooks=hooks).run(Options())

    assert filled.failure is None and filled.complete, filled
    for table, versions in written.items():
        assert counts(filled, table) == {"update": len(versions)}, table
        for key, version in versions.items():
            item = rig.item(LOGICAL_IDS[table], key)
            assert CLERK in item and isinstance(decompress(item[CLERK].value), dict), (table, key)
            if table is not Table.PLANS:  # plans are versioned by the run's clock
                assert item["version"] == version, (table, key)
    user_id = next(iter(rig.api.data.users))
    stored_user = decompress(rig.item("UsersTable", (user_id,))[CLERK].value)
    assert stored_user == allowed(rig.api.data.users[user_id])
    assert rig.writes() == sum(map(len, written.values()))

    rig.calls.clear()
    again = build_backfill(on, hooks=hooks).run(Options())

    assert again.failure is None and again.complete
    assert rig.writes() == 0
    for table, versions in written.items():
        assert counts(again, table) == {"unchanged": len(versions)}, table
