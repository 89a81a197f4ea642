"""The read library's records and index names agree with the public schema (models.py, template.yaml)."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from clerk_sync.adapters.dynamodb import models
from clerk_sync.read import (
    BillingPlan,
    Domain,
    Feature,
    Invitation,
    Membership,
    Organization,
    Permission,
    Role,
    Session,
    SubscriptionItem,
    User,
    WaitlistEntry,
)
from clerk_sync.read.data import (
    EMAIL_INDEX,
    KEY_INDEX,
    NAME_INDEX,
    ORGANIZATION_INDEX,
    SLUG_INDEX,
    USER_INDEX,
)
from clerk_sync.read.records import EmailAddress, frozen_value
from clerk_sync_local.stack.template import load_template

BOOKKEEPING = {"svix_id", "deleted", "deleted_at"}  # on every item, of no use to a reader


def attributes(model: type[models.Versioned]) -> set[str]:
    return set(model.get_attributes()) - BOOKKEEPING


def test_every_stored_attribute_is_a_record_field_and_nothing_else():
    assert {f.name for f in fields(User)} == attributes(models.UserRecord)
    assert {f.name for f in fields(Organization)} == attributes(models.OrganizationRecord)
    assert {f.name for f in fields(Membership)} == attributes(models.MembershipRecord)
    assert {f.name for f in fields(Session)} == attributes(models.SessionRecord)
    assert {f.name for f in fields(EmailAddress)} == set(models.EmailAddress.get_attributes())
    assert {f.name for f in fields(Invitation)} == attributes(models.InvitationRecord)
    assert {f.name for f in fields(Role)} == attributes(models.RoleRecord)
    assert {f.name for f in fields(Permission)} == attributes(models.PermissionRecord)
    assert {f.name for f in fields(Domain)} == attributes(models.DomainRecord)
    assert {f.name for f in fields(WaitlistEntry)} == attributes(models.WaitlistRecord)
    assert {f.name for f in fields(SubscriptionItem)} == attributes(models.SubscriptionItemRecord)
    assert {f.name for f in fields(BillingPlan)} == set(models.BillingPlan.get_attributes())
    assert {f.name for f in fields(Feature)} == set(models.Feature.get_attributes())


def test_the_index_names_are_the_models_and_the_templates():
    assert models.UserRecord.email_index.Meta.index_name == EMAIL_INDEX
    assert models.OrganizationRecord.slug_index.Meta.index_name == SLUG_INDEX
    assert models.MembershipRecord.user_index.Meta.index_name == USER_INDEX
    assert models.SessionRecord.user_index.Meta.index_name == USER_INDEX
    resources = load_template()["Resources"]
    expected = {
        "UsersTable": {EMAIL_INDEX},
        "OrganizationsTable": {SLUG_INDEX},
        "MembershipsTable": {USER_INDEX},
        "SessionsTable": {USER_INDEX},
        "InvitationsTable": {ORGANIZATION_INDEX, EMAIL_INDEX},
        "RolesTable": {KEY_INDEX},
        "PermissionsTable": {KEY_INDEX},
        "DomainsTable": {ORGANIZATION_INDEX, NAME_INDEX},
        "WaitlistTable": {EMAIL_INDEX},
        "SubscriptionItemsTable": {USER_INDEX, ORGANIZATION_INDEX},
    }
    indexes = {
        logical_id: {i["IndexName"] for i in resources[logical_id]["Properties"]["GlobalSecondaryIndexes"]}
        for logical_id in expected
    }
    assert indexes == expected


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
