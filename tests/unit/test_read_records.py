"""The read library's records agree with the schema's one declaration (domain/tables.py): every stored
attribute is a record field and nothing else; the index look-ups find the template's indexes."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from clerk_sync.domain.tables import BOOKKEEPING, CLERK, TABLES, Field, Table
from clerk_sync.read import (
    BillingPlan,
    Domain,
    Feature,
    Invitation,
    Membership,
    Organization,
    Permission,
    PublicUserData,
    Role,
    Scim,
    Session,
    SubscriptionItem,
    User,
    WaitlistEntry,
)
from clerk_sync.read.records import EmailAddress, frozen_value
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
    Table.SUBSCRIPTION_ITEMS: SubscriptionItem,
}
"""The tables the read library returns records of (subscriptions and payment attempts it does not read;
plans are read as the `BillingPlan` of an entitlement)."""


def stored(table: Table) -> set[str]:
    spec = TABLES[table]
    return {*spec.key_names, *(f.name for f in (*BOOKKEEPING, *spec.fields))} - NOT_READ


def inner(table: Table, name: str) -> set[str]:
    field: Field = TABLES[table].field(name)
    return {f.name for f in field.fields}


def test_every_stored_attribute_is_a_record_field_and_nothing_else():
    for table, record in RECORDS.items():
        assert {f.name for f in fields(record)} == stored(table), table
    assert {f.name for f in fields(EmailAddress)} == inner(Table.USERS, "email_addresses")
    assert {f.name for f in fields(Scim)} == inner(Table.USERS, "scim")
    assert {f.name for f in fields(PublicUserData)} == inner(Table.MEMBERSHIPS, "public_user_data")
    assert {f.name for f in fields(BillingPlan)} == {*inner(Table.SUBSCRIPTION_ITEMS, "plan"), CLERK}
    features = TABLES[Table.SUBSCRIPTION_ITEMS].field("plan").fields[-1]
    assert {f.name for f in fields(Feature)} == {f.name for f in features.fields}


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
