"""Backfill and first-use sync (both write through `LISTINGS[table].write`, read/first_use.py) store the
same record as a webhook would for the same Clerk object: Clerk's complete object byte for byte, and every
typed attribute, for every kind both write, from the Backend API's objects (the fake API's, which carry
every key the SDK requires) and from the bundled samples' webhook data."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from builders import envelope
from clerk_sync.adapters.clerk.listings import LISTINGS, invitation_event, item_listed_at
from clerk_sync.domain.complete import allowed, decompress
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK, Table
from clerk_sync.domain.writes import Write
from clerk_sync_local.cli.send import SAMPLES_DIR
from fakes.clerk_api import (
    clerk_domain,
    clerk_invitation,
    clerk_membership,
    clerk_organization,
    clerk_permission,
    clerk_plan,
    clerk_role,
    clerk_subscription_item,
    clerk_user,
    clerk_waitlist_entry,
)

CREATED, UPDATED = 1_700_000_000_000, 1_700_000_500_000
FUTURE = {"favorite_color_2027": "teal", "scim_2027": {"enabled": True}}
ORG = clerk_organization("org_src", CREATED, UPDATED)
PLAN = clerk_plan("cplan_src", ("exports",))

API_OBJECTS: dict[Table, dict[str, Any]] = {
    Table.USERS: clerk_user("user_src", CREATED, UPDATED),
    Table.ORGANIZATIONS: ORG,
    Table.MEMBERSHIPS: clerk_membership(ORG, "user_src", CREATED, UPDATED),
    Table.INVITATIONS: clerk_invitation("orginv_src", ORG, CREATED, UPDATED),
    Table.DOMAINS: clerk_domain("orgdmn_src", "org_src", CREATED, UPDATED),
    Table.ROLES: clerk_role("role_src", CREATED, UPDATED),
    Table.PERMISSIONS: clerk_permission("perm_src", CREATED, UPDATED),
    Table.WAITLIST: clerk_waitlist_entry("wle_src", CREATED, UPDATED),
    Table.SUBSCRIPTION_ITEMS: clerk_subscription_item("csubi_src", PLAN, "user_src", CREATED, UPDATED),
}
"""One Backend API object of every kind backfill writes through a webhook's event-type function (plans
have no webhook: backfill alone writes them)."""

SAMPLES: dict[Table, str] = {
    Table.USERS: "user.updated",
    Table.ORGANIZATIONS: "organization.updated",
    Table.MEMBERSHIPS: "organizationMembership.updated",
    Table.INVITATIONS: "organizationInvitation.created",
    Table.DOMAINS: "organizationDomain.updated",
    Table.ROLES: "role.updated",
    Table.PERMISSIONS: "permission.updated",
    Table.WAITLIST: "waitlistEntry.updated",
    Table.SUBSCRIPTION_ITEMS: "subscriptionItem.updated",
}
"""The webhook that carries the same object as each kind's listing."""


def webhook_type(table: Table, obj: dict[str, Any]) -> str:
    return invitation_event(obj) if table is Table.INVITATIONS else SAMPLES[table]


def webhook_write(table: Table, obj: dict[str, Any]) -> Write:
    """What the receiver writes for the object (emitted when its state was reached)."""
    at = item_listed_at(obj, 0)
    body = json.dumps(envelope(webhook_type(table, obj), obj, at)).encode()
    write = changes_of(parse_event(body, "msg_source", 0)).write
    assert write is not None
    return write


def same_record(table: Table, obj: dict[str, Any]) -> None:
    obj = {**copy.deepcopy(obj), **FUTURE}
    webhook = webhook_write(table, obj)
    backfilled = LISTINGS[table].write(copy.deepcopy(obj), "backfill:run", UPDATED + 99_000)
    assert backfilled.item[CLERK] == webhook.item[CLERK]
    assert decompress(backfilled.item[CLERK]) == allowed(obj)
    assert decompress(backfilled.item[CLERK])["favorite_color_2027"] == "teal"
    typed = {name for name in (*webhook.item, *backfilled.item) if name != "svix_id"}
    for name in sorted(typed):
        assert backfilled.item.get(name) == webhook.item.get(name), (table, name)


@pytest.mark.parametrize("table", list(API_OBJECTS), ids=str)
def test_an_api_object_is_stored_as_its_webhook_stores_it(table):
    assert set(API_OBJECTS) == set(LISTINGS) - {Table.PLANS}
    same_record(table, API_OBJECTS[table])


@pytest.mark.parametrize("table", list(SAMPLES), ids=str)
def test_a_samples_object_read_from_the_api_is_stored_as_its_webhook_stores_it(table):
    data = json.loads((SAMPLES_DIR / f"{SAMPLES[table]}.json").read_text())["data"]
    same_record(table, data)


def test_a_plan_keeps_its_complete_api_object():
    write = LISTINGS[Table.PLANS].write({**copy.deepcopy(PLAN), **FUTURE}, "backfill:run", UPDATED)
    assert decompress(write.item[CLERK]) == allowed({**PLAN, **FUTURE})
