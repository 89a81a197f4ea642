"""What each event type means for the stored state (pure logic)."""

import json

import pytest
from builders import envelope, membership, organization, session, user
from clerk_sync.domain.complete import decompress
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import EVENT_TYPES, changes_of
from clerk_sync.domain.tables import CLERK, Table
from clerk_sync.domain.writes import InvalidEventError, Parent
from clerk_sync_local.cli.send import SAMPLES_DIR

PERSONAL = ("ann@example.com", "+15550100", "203.0.113.9", "Berlin", "Mozilla")
ACTIVITY = PERSONAL[2:]  # a session's IP address, location and user agent: denied (domain/complete.py)


def typed(item):
    """The JSON of an item's typed attributes (not Clerk's complete object)."""
    return json.dumps({name: value for name, value in item.items() if name != CLERK})


def event_changes(event_type, data, timestamp=1_732_000_000_500):
    body = json.dumps(envelope(event_type, data, timestamp)).encode()
    return changes_of(parse_event(body, "msg_1", 1_732_000_000))


def test_user_created_stores_the_primary_email_and_greets():
    p = event_changes("user.created", user("user_1", 1_732_000_000_100))
    assert p.write is not None and p.write.table is Table.USERS and p.write.key == {"id": "user_1"}
    item = p.write.item
    assert item["email"] == "ann@example.com" and item["phone_number"] == "+15550100"
    assert item["email_addresses"] == [
        {"id": "idn_user_1", "email_address": "ann@example.com", "verification_status": "verified"}
    ]
    assert item["version"] == 1_732_000_000_100 and item["svix_id"] == "msg_1"
    assert "deleted" not in item and item["public_metadata"] == {"plan": "pro", "seats": 3}
    assert [e["kind"] for e in p.effects] == ["welcome_email"]
    assert p.effects[0]["user_id"] == "user_1" and p.effects[0]["svix_id"] == "msg_1"


def test_user_without_email_has_no_email_attribute():
    p = event_changes("user.updated", user("user_1", 1_732_000_000_100, email=None, phone=None))
    assert p.write is not None
    assert "email" not in p.write.item and "phone_number" not in p.write.item
    assert p.effects == ()


def test_user_deleted_is_a_tombstone_without_personal_data_and_a_cleanup():
    p = event_changes("user.deleted", {"object": "user", "id": "user_1", "deleted": True})
    assert p.write is not None and p.write.tombstone
    assert p.write.item == {
        "id": "user_1",
        "deleted": True,
        "deleted_at": 1_732_000_000_500,
        "version": 1_732_000_000_500,
        "svix_id": "msg_1",
    }
    assert p.effects[0] == {
        "kind": "user_cleanup",
        "svix_id": "msg_1",
        "user_id": "user_1",
        "deleted_at": 1_732_000_000_500,
    }


def test_organization_events():
    p = event_changes("organization.updated", organization("org_1", 1_732_000_000_200))
    assert p.write is not None and p.write.item["slug"] == "acme" and p.write.version == 1_732_000_000_200
    d = event_changes("organization.deleted", {"object": "organization", "id": "org_1", "deleted": True})
    assert d.write is not None and d.write.tombstone and d.effects[0]["kind"] == "organization_cleanup"


def test_membership_is_keyed_by_organization_and_user_and_needs_both_alive():
    p = event_changes("organizationMembership.created", membership("org_1", "user_1", 1_732_000_000_300))
    assert p.write is not None
    assert p.write.key == {"organization_id": "org_1", "user_id": "user_1"}
    assert set(p.write.parents) == {Parent(Table.USERS, "user_1"), Parent(Table.ORGANIZATIONS, "org_1")}
    assert not any(text in typed(p.write.item) for text in PERSONAL)


def test_membership_deleted_is_a_tombstone_versioned_by_the_envelope_time():
    p = event_changes("organizationMembership.deleted", membership("org_1", "user_1", 1_732_000_000_000))
    assert p.write is not None and p.write.tombstone and p.write.version == 1_732_000_000_500
    assert p.write.parents == ()


@pytest.mark.parametrize(
    "event_type",
    ["session.created", "session.ended", "session.removed", "session.revoked", "session.pending"],
)
def test_sessions_keep_no_activity_data(event_type):
    p = event_changes(event_type, session("sess_1", "user_1", 1_732_000_000_400, status="ended"))
    assert p.write is not None and p.write.item["status"] == "ended"
    assert p.write.parents == (Parent(Table.USERS, "user_1"),)
    assert not any(text in typed(p.write.item) for text in PERSONAL)
    complete = json.dumps(decompress(p.write.item[CLERK]))
    assert "latest_activity" not in complete and not any(text in complete for text in ACTIVITY)


def test_email_delivery_taken_over_by_the_app_is_queued_and_clerks_own_is_ignored():
    email = {
        "object": "email",
        "id": "ema_1",
        "to_email_address": "ann@example.com",
        "subject": "Hi",
        "body": "<p>Hi</p>",
        "body_plain": "Hi",
        "delivered_by_clerk": False,
        "slug": "magic_link",
    }
    assert [e["kind"] for e in event_changes("email.created", email).effects] == ["deliver_email"]
    assert event_changes("email.created", {**email, "delivered_by_clerk": True}).ignored


SMS = {
    "object": "sms_message",
    "id": "sms_1",
    "from_phone_number": "+12015550100",
    "to_phone_number": "+12015550123",
    "phone_number_id": "idn_1",
    "user_id": "user_1",
    "message": "482913 is your verification code",
    "slug": "verification_code",
    "status": "queued",
    "data": {"otp_code": "482913"},
    "delivered_by_clerk": False,
}


def test_sms_delivery_taken_over_by_the_app_is_queued_and_clerks_own_is_ignored():
    p = event_changes("sms.created", SMS)
    assert p.write is None and p.entity_id == "sms_1"
    assert p.effects == (
        {
            "kind": "deliver_sms",
            "svix_id": "msg_1",
            "sms_id": "sms_1",
            "to_phone_number": "+12015550123",
            "message": "482913 is your verification code",
        },
    )
    assert event_changes("sms.created", {**SMS, "delivered_by_clerk": True}).ignored
    assert event_changes("sms.created", {k: v for k, v in SMS.items() if k != "delivered_by_clerk"}).ignored
    # Clerk delivers it: nothing is checked, not even the fields a delivery would need
    assert event_changes("sms.created", {"id": "sms_2", "delivered_by_clerk": True}).ignored


def test_a_planned_sms_is_a_valid_effect_message():
    from clerk_sync.domain.effects import EFFECT_KINDS, Channel, parse_message

    [effect] = event_changes("sms.created", SMS).effects
    message = parse_message(json.dumps(effect))
    assert (message.kind, message.target, message.key) == ("deliver_sms", "sms_1", "deliver_sms#msg_1#sms_1")
    assert (
        EFFECT_KINDS["deliver_sms"].channel is Channel.SMS
        and EFFECT_KINDS["deliver_email"].channel is Channel.EMAIL
    )


def test_unknown_types_are_ignored():
    p = event_changes("agentTask.created", {"id": "agt_1"})
    assert p.ignored and p.entity_id == "agt_1"


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("user.created", {"updated_at": 1}),
        ("user.updated", {"id": "user_1"}),
        ("user.updated", {"id": "user_1", "updated_at": "yesterday"}),
        ("organizationMembership.created", {"id": "orgmem_1", "updated_at": 1, "organization": {}}),
        ("session.created", {"id": "sess_1", "updated_at": 1}),
        ("email.created", {"id": "ema_1", "delivered_by_clerk": False}),
        ("sms.created", {**SMS, "to_phone_number": ""}),
        ("sms.created", {k: v for k, v in SMS.items() if k != "message"}),
        ("sms.created", {k: v for k, v in SMS.items() if k != "id"}),
        ("sms.created", {**SMS, "message": 482913}),
    ],
)
def test_known_types_missing_what_they_need_are_invalid(event_type, data):
    with pytest.raises(InvalidEventError):
        event_changes(event_type, data)


def test_every_handled_type_has_its_function():
    assert {
        "user.created",
        "user.updated",
        "user.deleted",
        "organization.created",
        "organization.updated",
        "organization.deleted",
        "organizationMembership.created",
        "organizationMembership.updated",
        "organizationMembership.deleted",
        "email.created",
        "sms.created",
    } <= set(EVENT_TYPES)


def test_the_2026_fields_apps_act_on_are_typed():
    scim = {"directory_id": "dir_1", "directory_enabled": True, "external_id": "ext_1", "added_2027": 1}
    p = event_changes(
        "user.updated", {**user("user_1", 1_732_000_000_100), "deprovisioned": True, "scim": scim}
    )
    assert p.write is not None
    assert p.write.item["deprovisioned"] is True
    assert p.write.item["scim"] == {
        "directory_id": "dir_1",
        "directory_enabled": True,
        "external_id": "ext_1",
    }
    org = event_changes(
        "organization.updated", {**organization("org_1", 1), "role_set_key": "role_set:default"}
    )
    assert org.write is not None and org.write.item["role_set_key"] == "role_set:default"
    sent_membership = membership("org_1", "user_1", 1_732_000_000_300)
    plain = event_changes("organizationMembership.updated", sent_membership).write
    assert plain is not None and "public_user_data" not in plain.item
    sent_membership["public_user_data"] |= {"banned": False, "deprovisioned": True}
    member = event_changes("organizationMembership.updated", sent_membership)
    assert member.write is not None
    # the restrictions only: no name, no e-mail
    assert member.write.item["public_user_data"] == {"banned": False, "deprovisioned": True}
    envelope_data = json.loads((SAMPLES_DIR / "subscriptionItem.active.json").read_text())["data"]
    for seats in (3, {"quantity": 3}):
        item = event_changes("subscriptionItem.active", {**envelope_data, "seats": seats})
        assert item.write is not None and item.write.item["seats"] == 3
