"""clerk_sync.read against both engines: every query after histories delivered out of order, with
duplicates, stale replays, tombstones and re-joins, equals the in-order model's live view."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import boto3
from builders import envelope, membership, organization, session, signed, user
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.read import (
    ClerkData,
    Entitlements,
    Invitation,
    Membership,
    Organization,
    OrganizationMembership,
    Role,
    Session,
    SubscriptionItem,
    User,
)
from clerk_sync.read.billing import entitlements
from histories import ACTIONS, Clerk, expected_state, normalise, parents_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stacks import Stack

READS = {"GetItem", "BatchGetItem", "Query"}
NOW = 1_732_000_500_000  # while the histories' items (and their periods) last
_runs = itertools.count()
# Every history starts populated (3 users, 2 organizations, every membership, a session each), so that
# the random steps after it delete parents of live children, leave, re-join and end sessions often.
PREFIX = [
    *[("user", i, 0) for i in range(3)],
    *[("org", 0, j) for j in range(2)],
    *[("join", i, j) for i in range(3) for j in range(2)],
    *[("session", i, 0) for i in range(3)],
]


def reader(stack: Stack, calls: Counter[str] | None = None, page_size: int | None = None) -> ClerkData:
    """A ClerkData over the stack's tables, through a boto3 session whose calls are counted."""
    session = boto3.session.Session(region_name=stack.endpoints.region)
    if calls is not None:
        session.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return ClerkData(
        tables={table: stack.tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=stack.endpoints.dynamodb,
        session=session,
        page_size=page_size,
    )


class LiveView:
    """What an application should see: the in-order history's records, tombstones and the children of
    deleted parents left out (histories.normalise)."""

    def __init__(self, events: list[dict[str, Any]], svix_ids: list[str]) -> None:
        state = normalise(expected_state(events, svix_ids), parents_of(events))
        self.items = {key: item for key, item in state.items() if not item.get("deleted")}

    def of(self, table: Table) -> list[dict[str, Any]]:
        return [item for (t, _), item in sorted(self.items.items()) if t == table]

    def user(self, user_id: str) -> User | None:
        found = [i for i in self.of(Table.USERS) if i["id"] == user_id]
        return User.from_item(found[0]) if found else None

    def organization(self, org_id: str) -> Organization | None:
        found = [i for i in self.of(Table.ORGANIZATIONS) if i["id"] == org_id]
        return Organization.from_item(found[0]) if found else None

    def by_slug(self, slug: str) -> Organization | None:
        found = [Organization.from_item(i) for i in self.of(Table.ORGANIZATIONS) if i.get("slug") == slug]
        return max(found, key=lambda o: (o.version, o.id), default=None)

    def members(self, org_id: str) -> list[Membership]:
        found = [i for i in self.of(Table.MEMBERSHIPS) if i["organization_id"] == org_id]
        return [Membership.from_item(i) for i in sorted(found, key=lambda i: i["user_id"])]

    def organizations_of(self, user_id: str) -> list[OrganizationMembership]:
        found = [i for i in self.of(Table.MEMBERSHIPS) if i["user_id"] == user_id]
        return [
            OrganizationMembership(Membership.from_item(i), self.organization(i["organization_id"]))
            for i in sorted(found, key=lambda i: i["organization_id"])
        ]

    def sessions_of(self, user_id: str, active: bool) -> list[Session]:
        found = [
            Session.from_item(i)
            for i in self.of(Table.SESSIONS)
            if i["user_id"] == user_id and (not active or i["status"] == "active")
        ]
        return sorted(found, key=lambda s: s.id)

    def invitations(self, field: str, value: str, status: str | None) -> list[Invitation]:
        found = [
            Invitation.from_item(i)
            for i in self.of(Table.INVITATIONS)
            if i.get(field) == value and status in (None, i["status"])
        ]
        return sorted(found, key=lambda i: i.id)

    def role_by_key(self, key: str) -> Role | None:
        found = [Role.from_item(i) for i in self.of(Table.ROLES) if i.get("key") == key]
        return max(found, key=lambda r: (r.version, r.id), default=None)

    def subscription_items_of(self, payer: str) -> list[SubscriptionItem]:
        field = "organization_id" if payer.startswith("org_") else "user_id"
        found = [
            SubscriptionItem.from_item(i) for i in self.of(Table.SUBSCRIPTION_ITEMS) if i.get(field) == payer
        ]
        return sorted(found, key=lambda i: i.id)

    def entitlements(self, payer: str) -> Entitlements:
        return entitlements(payer, self.subscription_items_of(payer), {}, NOW)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], list[int], list[int]]:
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=30
        )
    )
    duplicates = draw(st.lists(st.integers(0, 10_000), max_size=6))  # the same delivery again
    replays = draw(st.lists(st.integers(0, 10_000), max_size=6))  # an old event under a new svix id
    return steps, duplicates, replays


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), data=st.data())
def test_every_query_equals_the_in_order_live_view(stack, history, data):
    steps, duplicates, replays = history
    clerk = Clerk(ns=f"q{next(_runs)}x")
    for action, i, j in PREFIX + steps:
        clerk.act(action, i, j)
    events = clerk.events
    slug = f"{clerk.ns}-acme"  # every organization of the run has it: of several live ones, the latest
    for event in events:
        if event["type"] in ("organization.created", "organization.updated"):
            event["data"]["slug"] = slug
        if event["type"] in ("role.created", "role.updated"):  # role keys of this run only
            event["data"]["key"] = event["data"]["key"].replace("org:", f"org:{clerk.ns}")
    svix_ids = [f"msg_{clerk.ns}{n}" for n in range(len(events))]
    deliveries = [(n, svix_ids[n]) for n in range(len(events))]
    deliveries += [(pick % len(events), svix_ids[pick % len(events)]) for pick in duplicates]
    deliveries += [(p % len(events), f"msg_{clerk.ns}replay{k}") for k, p in enumerate(replays)]
    for index, svix_id in data.draw(st.permutations(deliveries), label="delivery order"):
        status, body = stack.deliver(signed(events[index], svix_id=svix_id))
        assert status == 200, body

    model = LiveView(events, svix_ids)
    calls: Counter[str] = Counter()
    read = reader(stack, calls, page_size=data.draw(st.sampled_from([None, 1, 2]), label="page size"))
    for i in range(3):
        user_id = clerk.uid(i)
        assert read.user(user_id) == model.user(user_id)
        assert read.user_by_email(f"{user_id}@example.com") == model.user(user_id)
        assert list(read.organizations_of(user_id)) == model.organizations_of(user_id)
        for active in (True, False):
            got = sorted(read.sessions_of(user_id, active=active), key=lambda s: s.id)
            assert got == model.sessions_of(user_id, active)
        for payer in (user_id, clerk.oid(i % 2)):
            items = sorted(read.subscription_items_of(payer), key=lambda i: i.id)
            assert items == model.subscription_items_of(payer)
            assert read.entitlements(payer, now_ms=NOW) == model.entitlements(payer)
        assert read.role_by_key(f"org:{clerk.ns}r{i}") == model.role_by_key(f"org:{clerk.ns}r{i}")
    for j in range(2):
        org_id = clerk.oid(j)
        assert read.organization(org_id) == model.organization(org_id)
        assert list(read.members(org_id)) == model.members(org_id)
        for status in ("pending", None):
            got_invitations = sorted(read.invitations_of(org_id, status), key=lambda i: i.id)
            assert got_invitations == model.invitations("organization_id", org_id, status)
    for n in range(1, clerk.invitation_count + 1):
        address = f"orginv_{clerk.ns}{n}@example.com"
        for status in ("pending", None):
            got_invitations = sorted(read.invitations_for(address, status), key=lambda i: i.id)
            assert got_invitations == model.invitations("email_address", address, status)
    assert read.organization_by_slug(slug) == model.by_slug(slug)
    assert set(calls) <= READS, calls


def test_records_are_typed_frozen_and_tombstones_are_never_returned(stack):
    t0 = 1_732_000_000_000
    for event in (
        envelope("user.created", user("user_rt1", t0, email="rt1@example.com"), t0),
        envelope("organization.created", organization("org_rt1", t0, slug="rt-one"), t0),
        envelope("organizationMembership.created", membership("org_rt1", "user_rt1", t0, role="org:admin")),
        envelope("session.created", session("sess_rt1", "user_rt1", t0)),
        envelope("user.created", user("user_rt2", t0, email="rt2@example.com"), t0),
        envelope("user.deleted", {"object": "user", "id": "user_rt2", "deleted": True}, t0 + 5),
    ):
        assert stack.deliver(signed(event))[0] == 200
    read = reader(stack)

    ann = read.user("user_rt1")
    assert ann is not None and ann.email == "rt1@example.com" and ann.version == t0
    assert ann.public_metadata == {"plan": "pro", "seats": 3} and isinstance(
        ann.public_metadata["seats"], int
    )
    assert ann.email_addresses[0].verification_status == "verified" and ann.private_metadata == {}
    try:
        ann.first_name = "Bob"  # type: ignore[misc]
        raise AssertionError("records are frozen")
    except AttributeError:
        pass
    [entry] = read.organizations_of("user_rt1")
    assert entry.role == "org:admin" and entry.permissions == ("org:sys_memberships:read",)
    assert entry.organization is not None and entry.organization.slug == "rt-one"
    assert read.organization_by_slug("rt-one") == entry.organization
    assert [s.id for s in read.sessions_of("user_rt1")] == ["sess_rt1"]

    assert stack.items("UsersTable") and any(i.get("deleted") for i in stack.items("UsersTable"))
    assert read.user("user_rt2") is None and read.user_by_email("rt2@example.com") is None
    assert read.user("user_nobody") is None and read.organization_by_slug("nothing") is None
    assert list(read.members("org_nobody")) == [] and list(read.sessions_of("user_nobody")) == []


def test_lists_read_a_page_only_when_it_is_needed(stack):
    t0 = 1_732_000_000_000
    assert stack.deliver(signed(envelope("organization.created", organization("org_lz", t0), t0)))[0] == 200
    for n in range(5):
        uid = f"user_lz{n}"
        assert (
            stack.deliver(signed(envelope("user.created", user(uid, t0, email=f"{uid}@x.io"), t0)))[0] == 200
        )
        event = envelope("organizationMembership.created", membership("org_lz", uid, t0 + n))
        assert stack.deliver(signed(event))[0] == 200
    calls: Counter[str] = Counter()
    read = reader(stack, calls, page_size=2)

    members = read.members("org_lz")
    assert not calls  # nothing is read before the first item is asked for
    assert next(members).user_id == "user_lz0"
    assert calls["Query"] == 1
    assert [m.user_id for m in members] == [f"user_lz{n}" for n in range(1, 5)]
    assert calls["Query"] == 3 and "Scan" not in calls
