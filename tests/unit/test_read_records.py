"""The read library's records agree with the schema's one declaration (domain/tables.py): every synced
table has a record class, every stored attribute is a record field and nothing else; the index look-ups
find the template's indexes; Clerk's complete object reads the same from stored bytes and from a change
event's decoded object, lazily, and never shows its content."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest
from clerk_sync.domain.complete import compress
from clerk_sync.domain.tables import BOOKKEEPING, CLERK, TABLES, Field, Table
from clerk_sync.read import (
    BillingPlan,
    Domain,
    FailedReason,
    Feature,
    Invitation,
    Membership,
    Organization,
    PaymentAttempt,
    Permission,
    Plan,
    PlanFeature,
    PublicUserData,
    Role,
    Scim,
    Session,
    Subscription,
    SubscriptionItem,
    User,
    WaitlistEntry,
)
from clerk_sync.read.changes import RECORDS as READ_RECORDS
from clerk_sync.read.records import ClerkObject, EmailAddress, frozen_value
from clerk_sync_local.stack.template import load_template

NOT_READ = {"svix_id", "deleted", "deleted_at"}  # on every item, of no use to a reader
RECORDS = {
    Table.USERS: User,
    Table.ORGANIZATIONS: Organization,
    Table.MEMBERSHIPS: Membership,
    Table.SESSIONS: Session,
    Table.INVITATIONS: Invitation,
    Table.ROLES: Role,
    Table.PERMISSIONS: Permission,
    Table.DOMAINS: Domain,
    Table.WAITLIST: WaitlistEntry,
    Table.SUBSCRIPTIONS: Subscription,
    Table.SUBSCRIPTION_ITEMS: SubscriptionItem,
    Table.PAYMENT_ATTEMPTS: PaymentAttempt,
    Table.PLANS: Plan,
}
"""The record class of every synced table (entitlements also read a plans item as a `BillingPlan`, which
keeps what they use of it, and is an item's copy of its plan)."""


def stored(table: Table) -> set[str]:
    spec = TABLES[table]
    return {*spec.key_names, *(f.name for f in (*BOOKKEEPING, *spec.fields))} - NOT_READ


def inner(table: Table, name: str) -> set[str]:
    field: Field = TABLES[table].field(name)
    return {f.name for f in field.fields}


def test_every_synced_table_has_a_record_class_and_the_change_feed_reads_the_same():
    assert set(RECORDS) == set(Table)
    assert dict(READ_RECORDS) == RECORDS


def test_every_stored_attribute_is_a_record_field_and_nothing_else():
    for table, record in RECORDS.items():
        assert {f.name for f in fields(record)} == stored(table), table
    assert {f.name for f in fields(EmailAddress)} == inner(Table.USERS, "email_addresses")
    assert {f.name for f in fields(Scim)} == inner(Table.USERS, "scim")
    assert {f.name for f in fields(PublicUserData)} == inner(Table.MEMBERSHIPS, "public_user_data")
    assert {f.name for f in fields(BillingPlan)} == {*inner(Table.SUBSCRIPTION_ITEMS, "plan"), CLERK}
    features = TABLES[Table.SUBSCRIPTION_ITEMS].field("plan").fields[-1]
    assert {f.name for f in fields(Feature)} == {f.name for f in features.fields}
    assert {f.name for f in fields(PlanFeature)} == inner(Table.PLANS, "features")
    assert {f.name for f in fields(FailedReason)} == inner(Table.PAYMENT_ATTEMPTS, "failed_reason")


def test_the_billing_records_read_their_nested_attributes_typed():
    attempt = PaymentAttempt.from_item(
        {
            "id": "pa_1",
            "version": Decimal("7"),
            "failed_reason": {"code": "card_declined", "decline_code": "insufficient_funds"},
            "subscription_item_ids": ["csub_item_1", "csub_item_2"],
            "totals": {"grand_total": {"amount": Decimal("1000"), "currency": "USD"}},
        }
    )
    assert attempt.failed_reason == FailedReason("card_declined", "insufficient_funds")
    assert attempt.subscription_item_ids == ("csub_item_1", "csub_item_2")
    assert attempt.totals is not None and attempt.totals["grand_total"]["amount"] == 1000
    bare = PaymentAttempt.from_item({"id": "pa_2", "version": 1})
    assert bare.failed_reason is None and bare.subscription_item_ids == () and bare.totals is None
    plan = Plan.from_item(
        {
            "id": "cplan_1",
            "version": 3,
            "slug": "pro",
            "is_recurring": True,
            "features": [{"id": "feat_1", "slug": "exports", "name": "Exports", "description": "CSV"}],
        }
    )
    assert plan.features == (PlanFeature("feat_1", "exports", "Exports", "CSV"),)
    assert plan.is_recurring is True and plan.publicly_visible is None
    assert Subscription.from_item({"id": "csub_1", "version": 2, "status": "active"}).status == "active"


def test_the_declared_indexes_are_the_templates():
    resources = load_template()["Resources"]
    for spec in TABLES.values():
        declared = {(i.name, i.key_names) for i in spec.indexes}
        properties = resources[spec.template_id]["Properties"]
        in_template = {
            (i["IndexName"], tuple(k["AttributeName"] for k in i["KeySchema"]))
            for i in properties.get("GlobalSecondaryIndexes", ())
        }
        assert declared == in_template, spec.table
        assert all(
            i["Projection"] == {"ProjectionType": "ALL"} for i in properties.get("GlobalSecondaryIndexes", ())
        )


def test_stored_values_become_immutable_plain_values():
    value = frozen_value({"n": Decimal("3"), "f": Decimal("1.5"), "l": [Decimal("1"), {"a": "b"}]})
    assert value == {"n": 3, "f": 1.5, "l": (1, {"a": "b"})}
    assert type(value["n"]) is int and type(value["f"]) is float
    try:
        value["n"] = 4
        raise AssertionError("maps are read-only")
    except TypeError:
        pass


def test_absent_attributes_read_as_none_and_absent_maps_and_lists_as_empty():
    user = User.from_item({"id": "user_1", "version": Decimal("5"), "svix_id": "msg_1"})
    assert user.version == 5 and user.email is None and user.email_addresses == ()
    assert user.public_metadata == {} and user.private_metadata == {} and user.unsafe_metadata == {}
    membership = Membership.from_item({"organization_id": "org_1", "user_id": "user_1", "version": 1})
    assert membership.permissions == () and membership.role is None


COMPLETE = {"id": "user_1", "email_addresses": [{"email_address": "ann@example.com"}], "later_2027": {"a": 1}}


@pytest.mark.parametrize("given", [compress(COMPLETE), COMPLETE], ids=["stored", "decoded"])
def test_the_complete_object_reads_the_same_stored_or_decoded_read_only_and_lazily(given):
    clerk = ClerkObject(given)
    assert clerk._decoded is None  # nothing decoded or copied until it is read
    assert "ann@example.com" not in repr(clerk) and "user_1" not in repr(clerk)
    assert clerk == frozen_value(COMPLETE)
    assert clerk["email_addresses"][0]["email_address"] == "ann@example.com"
    assert clerk["later_2027"] == {"a": 1}
    with pytest.raises(TypeError):
        clerk["later_2027"]["a"] = 2  # type: ignore[index]
    assert "ann@example.com" not in repr(clerk)


def test_a_decoded_complete_object_is_its_own_copy_and_a_record_takes_either_form():
    given = {"id": "org_1", "nested": {"k": "v"}}
    clerk = ClerkObject(given)
    assert repr(clerk) == "ClerkObject(from a change event)"
    assert clerk["nested"] == {"k": "v"}
    given["nested"]["k"] = "changed"  # the caller's dict, changed after the first read
    assert clerk["nested"] == {"k": "v"}
    stored = Organization.from_item({"id": "org_1", "version": Decimal("1"), CLERK: compress(given)})
    decoded = Organization.from_item({"id": "org_1", "version": 1, CLERK: given})
    assert stored == decoded  # the same record: the complete objects compare as mappings
    assert Organization.from_item({"id": "org_1", "version": 1}).clerk == {}
