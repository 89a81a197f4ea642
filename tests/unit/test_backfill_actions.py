"""Backfill actions and retry decisions: API object → write → action; waits (no I/O)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from builders import membership, organization, user
from clerk_sync.adapters.clerk import retry
from clerk_sync.adapters.clerk.api import retry_after_seconds
from clerk_sync.adapters.clerk.errors import ApiError, ApiUnreachableError, RateLimitedError, RetryableError
from clerk_sync.adapters.clerk.listings import LISTINGS, Absence, invitation_event
from clerk_sync.backfill import actions
from clerk_sync.backfill.actions import Action, Stored
from clerk_sync.domain.entities.subscription_items import item_version
from clerk_sync.domain.envelope import Event
from clerk_sync.domain.event_types import EVENT_TYPES, changes_of
from clerk_sync.domain.rules import holds, may_replace
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.domain.writes import InvalidEventError
from fakes.clerk_api import (
    clerk_domain,
    clerk_invitation,
    clerk_organization,
    clerk_permission,
    clerk_plan,
    clerk_role,
    clerk_subscription_item,
    clerk_waitlist_entry,
)

RUN = "backfill:test"
NOW = 1_800_000_000_000


def test_objects_become_the_writes_their_updated_webhooks_make() -> None:
    write = actions.synthesize(Table.USERS, user("user_1", 5), RUN, NOW)

    assert write.key == {"id": "user_1"} and write.version == 5 and not write.tombstone
    assert write.item["svix_id"] == RUN and write.item["email"] == "ann@example.com"

    joined = actions.synthesize(Table.MEMBERSHIPS, membership("org_1", "user_1", 7), RUN, NOW)

    assert joined.key == {"organization_id": "org_1", "user_id": "user_1"} and len(joined.parents) == 2
    assert actions.key_of(Table.MEMBERSHIPS, joined.key) == ("org_1", "user_1")


def test_objects_lacking_what_the_write_path_needs_are_refused() -> None:
    broken = organization("org_1", 5)
    del broken["updated_at"]

    with pytest.raises(InvalidEventError):
        actions.synthesize(Table.ORGANIZATIONS, broken, RUN, NOW)
    assert actions.object_key(Table.MEMBERSHIPS, {"organization": {"id": "org_1"}}) is None


@pytest.mark.parametrize(
    ("table", "stored", "parent_tombstoned", "action"),
    [
        (Table.USERS, None, False, Action.CREATE),
        (Table.USERS, Stored(4, False), False, Action.UPDATE),
        (Table.USERS, Stored(5, False, complete=True), False, Action.UNCHANGED),
        (Table.USERS, Stored(5, False), False, Action.UPDATE),  # its complete object is filled in
        (Table.USERS, Stored(6, False), False, Action.STALE),
        (Table.USERS, Stored(1, True), False, Action.STALE),  # final tombstone
        (Table.MEMBERSHIPS, Stored(4, True), False, Action.UPDATE),  # a re-join after leaving
        (Table.MEMBERSHIPS, Stored(5, True), False, Action.STALE),  # a tombstone is never filled in
        (Table.MEMBERSHIPS, Stored(5, False), False, Action.UPDATE),
        (Table.MEMBERSHIPS, None, True, Action.STALE),  # its user or organization is deleted
    ],
)
def test_classification_follows_the_stores_conditions(
    table: Table, stored: Stored | None, parent_tombstoned: bool, action: Action
) -> None:
    objects = {
        Table.USERS: user("user_1", 5),
        Table.MEMBERSHIPS: membership("org_1", "user_1", 5),
    }
    write = actions.synthesize(table, objects[table], RUN, NOW)

    assert actions.classify(write, stored, parent_tombstoned) is action


def test_a_record_without_its_complete_object_is_filled_in_once_and_only_when_they_are_on() -> None:
    write = actions.synthesize(Table.USERS, user("user_1", 5), RUN, NOW)
    off = replace(write, item={k: v for k, v in write.item.items() if k != CLERK})  # Store.as_stored

    assert actions.classify(write, Stored(5, False)) is Action.UPDATE
    assert actions.classify(write, Stored(5, False, complete=True)) is Action.UNCHANGED  # filled in: once
    assert actions.classify(off, Stored(5, False)) is Action.UNCHANGED  # complete objects off
    assert actions.classify(write, Stored(6, False)) is Action.STALE  # a newer version stays
    rule = may_replace(write)
    assert holds(rule, {"version": 5, "svix_id": "msg_other"})
    assert not holds(rule, {"version": 5, "svix_id": "msg_other", CLERK: b"x"})
    assert not holds(rule, {"version": 5, "svix_id": "msg_other", "deleted": True})
    assert not holds(may_replace(off), {"version": 5, "svix_id": "msg_other"})
    webhook = changes_of(Event("msg_1", "user.updated", user("user_1", 5), 5)).write
    assert webhook is not None and CLERK in webhook.item and not webhook.fills_in
    assert not holds(may_replace(webhook), {"version": 5, "svix_id": "msg_other"})  # a re-sent event


def test_tombstones_replace_live_records_only() -> None:
    gone = actions.tombstone(Table.USERS, ("user_1",), RUN, NOW)
    left = actions.tombstone(Table.MEMBERSHIPS, ("org_1", "user_1"), RUN, NOW)

    assert gone.tombstone and gone.version == NOW and gone.key == {"id": "user_1"}
    assert left.key == {"organization_id": "org_1", "user_id": "user_1"}
    assert actions.classify(gone, Stored(NOW + 5, False)) is Action.TOMBSTONE  # deletion is final
    assert actions.classify(gone, Stored(1, True)) is Action.STALE
    assert actions.classify(left, Stored(NOW + 5, False)) is Action.STALE  # re-joined since
    assert actions.classify(left, None) is Action.STALE


ORG = clerk_organization("org_1", 1, 2)


def test_api_objects_of_the_new_kinds_become_their_webhooks_writes() -> None:
    role = actions.synthesize(
        Table.ROLES, clerk_role("role_1", 1, 5, (clerk_permission("p", 1, 2),)), RUN, NOW
    )
    invitation = actions.synthesize(
        Table.INVITATIONS, clerk_invitation("inv_1", ORG, 1, 6, "revoked"), RUN, NOW
    )
    domain = actions.synthesize(Table.DOMAINS, clerk_domain("dom_1", "org_1", 1, 7), RUN, NOW)
    entry = actions.synthesize(Table.WAITLIST, clerk_waitlist_entry("wle_1", 1, 8), RUN, NOW)
    permission = actions.synthesize(Table.PERMISSIONS, clerk_permission("perm_1", 1, 9), RUN, NOW)

    assert role.item["permissions"] == ["org:p:read"] and role.version == 5  # API permissions are objects
    assert invitation.item["status"] == "revoked" and invitation.version == 6
    assert [(p.table, p.id) for p in invitation.parents] == [(Table.ORGANIZATIONS, "org_1")]
    assert domain.item["verification_status"] == "verified" and "affiliation_email_address" not in domain.item
    assert (entry.version, permission.version) == (8, 9)
    assert all(w.item["svix_id"] == RUN for w in (role, invitation, domain, entry, permission))


@pytest.mark.parametrize(
    ("status", "event_type"),
    [
        ("pending", "organizationInvitation.created"),
        ("accepted", "organizationInvitation.accepted"),
        ("revoked", "organizationInvitation.revoked"),
        ("expired", "organizationInvitation.created"),  # Clerk sends no .expired
    ],
)
def test_an_invitation_is_planned_as_the_event_its_status_stands_for(status: str, event_type: str) -> None:
    invitation = clerk_invitation("inv_1", ORG, 1, 6, status)

    assert invitation_event(invitation) == event_type
    assert event_type in EVENT_TYPES


def test_a_listed_subscription_item_is_versioned_by_its_last_change_never_the_run_clock() -> None:
    item = clerk_subscription_item(
        "csubi_1", clerk_plan("cplan_pro", ("seats",)), "user_1", 100, 200, "past_due"
    )

    write = actions.synthesize(Table.SUBSCRIPTION_ITEMS, item, RUN, NOW)

    assert write.version == item_version(200, "past_due")  # updated_at, not NOW
    assert write.item["plan"]["features"] == [{"id": "feat_seats", "name": "Seats", "slug": "seats"}]
    assert write.item["user_id"] == "user_1" and write.item["payer_id"] == "cpayer_user_1"
    # a webhook emitted at the change itself or later is at least as new: backfill never beats it
    for emitted in (200, 201):  # Clerk's timestamp of that change's webhook, or of a later one
        webhook = changes_of(Event("msg_1", "subscriptionItem.pastDue", item, emitted)).write
        assert (
            webhook is not None
            and not actions.classify(write, Stored(webhook.version, False, complete=True)).writes
        )
    del item["updated_at"]
    assert actions.synthesize(Table.SUBSCRIPTION_ITEMS, item, RUN, NOW).version == item_version(
        100, "past_due"
    )
    del item["created_at"]
    with pytest.raises(InvalidEventError):
        actions.synthesize(Table.SUBSCRIPTION_ITEMS, item, RUN, NOW)


def test_a_plan_is_versioned_by_the_run_and_unchanged_while_its_content_is() -> None:
    write = actions.synthesize(Table.PLANS, clerk_plan("cplan_pro", ("seats", "sso")), RUN, NOW)

    assert write.version == NOW and write.key == {"id": "cplan_pro"} and not write.parents
    assert [f["slug"] for f in write.item["features"]] == ["seats", "sso"]
    assert set(write.item["features"][0]) == {"id", "slug", "name", "description"}
    content = {name: write.item[name] for name in LISTINGS[Table.PLANS].content if name in write.item}
    assert actions.classify(write, Stored(NOW - 1, False, content)) is Action.UNCHANGED
    changed = {**content, "features": content["features"][:1]}
    assert actions.classify(write, Stored(NOW - 1, False, changed)) is Action.UPDATE
    assert actions.classify(write, Stored(NOW - 1, True, content)) is Action.UPDATE  # a plan came back
    assert actions.classify(write, Stored(NOW + 1, False, changed)) is Action.STALE  # a newer run's


DELETION_WEBHOOKS = {
    Table.USERS: "user.deleted",
    Table.ORGANIZATIONS: "organization.deleted",
    Table.MEMBERSHIPS: "organizationMembership.deleted",
    Table.ROLES: "role.deleted",
    Table.PERMISSIONS: "permission.deleted",
}


@pytest.mark.parametrize(("table", "event_type"), DELETION_WEBHOOKS.items())
def test_reconcile_tombstones_are_the_ones_deletion_webhooks_write(table: Table, event_type: str) -> None:
    key = ("org_1", "user_1") if table is Table.MEMBERSHIPS else ("x_1",)
    data = {"id": key[0], "organization": {"id": key[0]}, "public_user_data": {"user_id": key[-1]}}

    gone = actions.tombstone(table, key, RUN, NOW)
    webhook = changes_of(Event(RUN, event_type, data, NOW)).write

    assert gone.tombstone and gone.version == NOW
    assert webhook is not None and (webhook.key, webhook.item) == (gone.key, gone.item)


def test_kinds_without_a_look_up_say_why_and_run_after_their_parents() -> None:
    order = list(LISTINGS)
    for table, kind in LISTINGS.items():
        assert (kind.absence is Absence.NONE) == bool(kind.not_reconciled), table
        assert (kind.absence is Absence.LOOKUP) == (kind.lookup is not None), table
        assert (kind.absence is Absence.FILTERED) == (kind.filtered is not None), table
        if kind.filtered is not None:  # the stored value the filtered list is asked for is read by reconcile
            assert kind.lookup_fields == (kind.filtered.field,), table
        for link in TABLES[table].parents:
            assert order.index(link.table) < order.index(table), (table, link.table)
    assert set(LISTINGS) | set(DELETION_WEBHOOKS) == set(LISTINGS)
    assert {t for t, k in LISTINGS.items() if k.absence is Absence.NONE} == {Table.SUBSCRIPTION_ITEMS}
    assert {t for t, k in LISTINGS.items() if k.absence is Absence.FILTERED} == {
        Table.DOMAINS,
        Table.WAITLIST,
    }
    assert order.index(Table.PLANS) < order.index(Table.SUBSCRIPTION_ITEMS)


def test_missing_is_what_a_complete_read_did_not_return() -> None:
    assert actions.missing([("b",), ("a",), ("c",)], {("b",)}) == [("a",), ("c",)]


def test_every_run_has_its_own_svix_id() -> None:
    first, second = actions.new_run_id(), actions.new_run_id()

    assert first.startswith("backfill:") and first != second


# --- retries ---------------------------------------------------------------------------------------


def calls(failures: list[Exception], policy: retry.RetryPolicy) -> tuple[str, list[float]]:
    waits: list[float] = []
    pending = list(failures)

    def request() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    result = retry.call(request, "list users", policy, sleep=waits.append, rand=lambda: 1.0)
    return result, waits


def test_retry_after_is_honoured_and_server_errors_back_off() -> None:
    policy = retry.RetryPolicy(base_delay=0.5, max_delay=8.0)

    result, waits = calls([RateLimitedError(3.0), RetryableError("503"), RetryableError("503")], policy)

    assert result == "ok" and waits == [3.0, 0.5, 1.0]


def test_attempts_are_bounded_with_a_reason_saying_why() -> None:
    policy = retry.RetryPolicy(max_attempts=3, rate_limit_attempts=2)

    with pytest.raises(
        ApiUnreachableError, match=re.escape("Clerk API unreachable (list users): ConnectError")
    ):
        calls([RetryableError("ConnectError: refused", unreachable=True)] * 3, policy)
    with pytest.raises(ApiError, match=re.escape("kept failing (list users): rate limited")):
        calls([RateLimitedError(None)] * 2, policy)


def test_retry_after_headers_in_seconds_or_dates() -> None:
    assert retry_after_seconds("2") == 2.0 and retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
