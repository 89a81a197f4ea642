"""`ClerkData.entitlements` on both engines: items from webhooks (their plans carry no features, as
Clerk sends them), features from the plans table that a backfill of `plans` filled."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from builders import envelope, organization, signed, subscription_item, user
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.adapters.clerk.retry import RetryPolicy
from clerk_sync.backfill.build import Settings, build_backfill
from clerk_sync.backfill.run import Options
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.read import ClerkData
from clerk_sync.settings import read_tables
from fakes.clerk_api import SECRET_KEY, FakeClerkApi, clerk_plan
from stacks import Stack, environment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:clerk_backend_api.*")
T0 = 1_732_000_000_000
NOW = T0 + 86_400_000  # within every item's period (30 days from the builders' BASE_MS)


def webhook_item(item_id: str, owner_id: str, status: str, plan: str) -> dict[str, Any]:
    data = subscription_item(item_id, owner_id, status=status, plan=plan)
    del data["plan"]["features"]  # Clerk's webhook plans have none
    return data


def deliver(stack: Stack, event_type: str, data: dict[str, Any], at: int = T0) -> None:
    status, body = stack.deliver(signed(envelope(event_type, data, at)))
    assert status == 200, body


def backfill_plans(stack: Stack, api: FakeClerkApi) -> None:
    settings = Settings(
        secret_key=SECRET_KEY,
        tables=read_tables(environment(stack.tables, stack.queue_url)),
        api_url=api.url,
        endpoints=Endpoints(dynamodb=stack.endpoints.dynamodb, region=stack.endpoints.region),
        retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2),
    )
    summary = build_backfill(settings).run(Options(kinds=(Table.PLANS,)))
    assert summary.failure is None and summary.complete


def reader(stack: Stack) -> ClerkData:
    return ClerkData(
        tables={table: stack.tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=stack.endpoints.dynamodb,
        session=boto3.session.Session(region_name=stack.endpoints.region),
    )


def test_features_of_webhook_items_come_from_the_backfilled_plans(stack: Stack) -> None:
    deliver(stack, "user.created", user("user_ent", T0))
    deliver(stack, "organization.created", organization("org_ent", T0))
    deliver(stack, "subscriptionItem.active", webhook_item("csubi_ent1", "user_ent", "active", "pro"))
    deliver(stack, "subscriptionItem.upcoming", webhook_item("csubi_ent2", "user_ent", "upcoming", "team"))
    deliver(stack, "subscriptionItem.active", webhook_item("csubi_ent3", "org_ent", "active", "team"))
    read = reader(stack)

    before = read.entitlements("user_ent", now_ms=NOW)
    assert before.plans == ("pro",) and before.features == frozenset()
    assert before.unknown_plans == ("cplan_pro",)  # no plan backfilled yet: said, not guessed

    with FakeClerkApi() as api:
        api.data.plans = {
            "cplan_pro": {**clerk_plan("cplan_pro", ("exports", "sso")), "slug": "pro"},
            "cplan_team": {**clerk_plan("cplan_team", ("seats",), payer_type="org"), "slug": "team"},
        }
        backfill_plans(stack, api)

    mine = read.entitlements("user_ent", now_ms=NOW)
    assert [i.id for i in mine.items] == ["csubi_ent1"]  # the upcoming item grants nothing yet
    assert mine.plans == ("pro",) and mine.features == {"exports", "sso"} and mine.unknown_plans == ()
    assert mine.has("exports") and not mine.has("seats")
    team = read.entitlements("org_ent", now_ms=NOW)
    assert team.plans == ("team",) and team.features == {"seats"}

    # The organization is deleted: its billing records are left out even before the clean-up ran.
    deliver(
        stack, "organization.deleted", {"object": "organization", "id": "org_ent", "deleted": True}, T0 + 5
    )
    gone = read.entitlements("org_ent", now_ms=NOW)
    assert gone.items == () and gone.features == frozenset()
    assert list(read.subscription_items_of("org_ent")) == []
