"""A tiny Clerk that emits the webhook events of random histories, in Clerk's time order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import builders
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.domain.writes import Write
from clerk_sync_local.cli.dump import plain_item

T0 = 1_732_000_000_000
ACTIONS = (
    "user", "delete_user", "org", "delete_org", "join", "leave", "session", "end_session",
    "invite", "role", "delete_role", "permission", "delete_permission", "domain", "delete_domain",
    "waitlist", "bill", "subscribe", "pay", "org_bill", "org_subscribe", "org_pay",
)  # fmt: skip
"""What the histories do. `bill`, `subscribe` and `pay` act on user i's billing, their `org_` forms on
organization j's (a payer is either)."""
ITEM_STATUSES = ("upcoming", "active", "past_due", "active", "canceled", "ended")
# (event, status) of a subscription's successive events; the last one repeats
SUBSCRIPTION_STEPS = (
    ("created", "active"),
    ("pastDue", "past_due"),
    ("active", "active"),
    ("updated", "canceled"),
)
# a waitlist entry's next status (an entry that reached completed or rejected has no more events)
WAITLIST_NEXT = {"pending": ("invited", "rejected"), "invited": ("completed",)}


@dataclass
class Clerk:
    """A tiny Clerk: applies actions in time order and records the webhook events it would send."""

    ns: str
    now: int = T0
    users: dict[int, str] = field(default_factory=dict)  # index -> "live" | "deleted"
    orgs: dict[int, str] = field(default_factory=dict)
    members: dict[tuple[int, int], bool] = field(default_factory=dict)
    sessions: dict[int, list[int]] = field(default_factory=dict)  # user -> open session numbers
    session_count: int = 0
    invitations: dict[int, int] = field(default_factory=dict)  # org -> number of its open invitation
    invitation_count: int = 0
    roles: dict[int, str] = field(default_factory=dict)  # role index -> "live" | "deleted"
    permissions: dict[int, str] = field(default_factory=dict)  # permission index -> "live" | "deleted"
    domains: dict[int, int] = field(default_factory=dict)  # org -> number of its live domain
    domain_count: int = 0
    waitlist: dict[int, str] = field(default_factory=dict)  # entry index -> its status
    items: dict[str, int] = field(default_factory=dict)  # payer -> its item's step in ITEM_STATUSES
    subscriptions: dict[str, int] = field(default_factory=dict)  # payer -> step in SUBSCRIPTION_STEPS
    attempts: dict[str, int] = field(default_factory=dict)  # payer -> number of its pending attempt
    attempt_count: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def uid(self, i: int) -> str:
        return f"user_{self.ns}{i}"

    def oid(self, j: int) -> str:
        return f"org_{self.ns}{j}"

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append(builders.envelope(event_type, data, self.now))

    def act(self, action: str, i: int, j: int) -> None:
        self.now += 1000
        alive_user, alive_org = self.users.get(i) == "live", self.orgs.get(j) == "live"
        if action == "user" and self.users.get(i) != "deleted":
            self.emit(
                "user.updated" if alive_user else "user.created",
                builders.user(
                    self.uid(i), self.now, first_name=f"v{self.now}", email=f"{self.uid(i)}@example.com"
                ),
            )
            self.users[i] = "live"
        elif action == "delete_user" and alive_user:
            self.emit("user.deleted", {"object": "user", "id": self.uid(i), "deleted": True})
            self.users[i] = "deleted"
        elif action == "org" and self.orgs.get(j) != "deleted":
            self.emit(
                "organization.updated" if alive_org else "organization.created",
                builders.organization(self.oid(j), self.now, name=f"n{self.now}"),
            )
            self.orgs[j] = "live"
        elif action == "delete_org" and alive_org:
            self.emit("organization.deleted", {"object": "organization", "id": self.oid(j), "deleted": True})
            self.orgs[j] = "deleted"
        elif action == "join" and alive_user and alive_org:
            kind = "updated" if self.members.get((j, i)) else "created"
            member_role = "org:admin" if self.now % 3000 == 0 else "org:member"
            self.emit(
                f"organizationMembership.{kind}",
                builders.membership(self.oid(j), self.uid(i), self.now, role=member_role),
            )
            self.members[(j, i)] = True
        elif action == "leave" and alive_user and alive_org and self.members.get((j, i)):
            self.emit(
                "organizationMembership.deleted",
                builders.membership(self.oid(j), self.uid(i), self.now - 500),
            )
            self.members[(j, i)] = False
        elif action == "session" and alive_user:
            self.session_count += 1
            self.sessions.setdefault(i, []).append(self.session_count)
            self.emit(
                "session.created",
                builders.session(f"sess_{self.ns}{self.session_count}", self.uid(i), self.now),
            )
        elif action == "invite" and alive_org:
            self._invite(j, self.uid(i) if alive_user else None)
        elif action in ("role", "permission", "delete_role", "delete_permission"):
            self._role_or_permission(action.removeprefix("delete_"), i, delete=action.startswith("delete_"))
        elif action in ("domain", "delete_domain") and alive_org:
            self._domain(j, delete=action == "delete_domain")
        elif action == "waitlist":
            self._waitlist(i)
        elif action.startswith("org_") and alive_org:
            self._bill(action.removeprefix("org_"), self.oid(j))
        elif action in ("bill", "subscribe", "pay") and alive_user:
            self._bill(action, self.uid(i))
        elif action == "end_session" and alive_user and self.sessions.get(i):
            number = self.sessions[i].pop(0)
            self.emit(
                "session.ended",
                builders.session(f"sess_{self.ns}{number}", self.uid(i), self.now, status="ended"),
            )

    def _invite(self, j: int, invitee: str | None) -> None:
        """A new invitation to organization j; or its open one accepted by `invitee`, or revoked."""
        open_one = self.invitations.pop(j, None)
        if open_one is None:
            self.invitation_count += 1
            self.invitations[j] = self.invitation_count
            data = builders.invitation(f"orginv_{self.ns}{self.invitation_count}", self.oid(j), self.now)
            self.emit("organizationInvitation.created", data)
        elif invitee is None:
            data = builders.invitation(f"orginv_{self.ns}{open_one}", self.oid(j), self.now, status="revoked")
            self.emit("organizationInvitation.revoked", data)
        else:
            data = builders.invitation(
                f"orginv_{self.ns}{open_one}", self.oid(j), self.now, status="accepted", user_id=invitee
            )
            self.emit("organizationInvitation.accepted", data)

    def _role_or_permission(self, kind: str, i: int, *, delete: bool) -> None:
        """Role or permission i made, changed, or deleted for good (its id is never used again)."""
        states = self.roles if kind == "role" else self.permissions
        record_id = f"{'role' if kind == 'role' else 'perm'}_{self.ns}{i}"
        if delete and states.get(i) == "live":
            self.emit(f"{kind}.deleted", {"object": kind, "id": record_id, "deleted": True})
            states[i] = "deleted"
        elif not delete and states.get(i) != "deleted":
            if kind == "role":
                perms = ("org:docs:read",) if self.now % 2000 else ("org:docs:read", "org:docs:write")
                data = builders.role(record_id, self.now, key=f"org:r{i}", permissions=perms)
            else:
                data = builders.permission(record_id, self.now, key=f"org:p{i}:read")
            self.emit(f"{kind}.{'updated' if states.get(i) == 'live' else 'created'}", data)
            states[i] = "live"

    def _domain(self, j: int, *, delete: bool) -> None:
        """Organization j's domain added, re-verified, or deleted for good (adding it again is a new id)."""
        number = self.domains.get(j)
        if delete and number is not None:
            domain_id = f"orgdm_{self.ns}{self.domains.pop(j)}"
            self.emit(
                "organizationDomain.deleted",
                {"object": "organization_domain", "id": domain_id, "deleted": True},
            )
        elif not delete:
            kind = "updated" if number is not None else "created"
            if number is None:
                self.domain_count += 1
                number = self.domains[j] = self.domain_count
            data = builders.domain(
                f"orgdm_{self.ns}{number}", self.oid(j), self.now, verified=self.now % 2000 == 0
            )
            self.emit(f"organizationDomain.{kind}", data)

    def _waitlist(self, i: int) -> None:
        """Waitlist entry i joins (pending), then is invited or rejected, then an invited one completes."""
        status = self.waitlist.get(i)
        choices = WAITLIST_NEXT.get(status, ()) if status else ("pending",)
        if choices:
            self.waitlist[i] = choices[self.now // 1000 % len(choices)]
            kind = "updated" if status else "created"
            self.emit(
                f"waitlistEntry.{kind}",
                builders.waitlist_entry(f"wle_{self.ns}{i}", self.now, status=self.waitlist[i]),
            )

    def _bill(self, action: str, payer: str) -> None:
        """The payer's subscription, subscription item or payment attempt takes its next step."""
        if action == "subscribe":
            step = self.subscriptions[payer] = min(
                self.subscriptions.get(payer, -1) + 1, len(SUBSCRIPTION_STEPS) - 1
            )
            event, status = SUBSCRIPTION_STEPS[step]
            self.emit(
                f"subscription.{event}",
                builders.subscription(f"csub_{payer}", payer, self.now, status=status),
            )
        elif action == "bill":
            step = self.items[payer] = min(self.items.get(payer, -1) + 1, len(ITEM_STATUSES) - 1)
            status = ITEM_STATUSES[step]
            event_type = "subscriptionItem." + {"past_due": "pastDue"}.get(status, status)
            self.emit(event_type, builders.subscription_item(f"csubi_{payer}", payer, status=status))
        else:  # pay: a new attempt, pending; then the pending one paid or failed
            number = self.attempts.pop(payer, None)
            if number is None:
                self.attempt_count += 1
                self.attempts[payer] = number = self.attempt_count
                kind, status = "created", "pending"
            else:
                kind, status = "updated", "failed" if self.now % 3000 == 0 else "paid"
            data = builders.payment_attempt(
                f"cpa_{self.ns}{number}", payer, self.now, status=status, item_ids=(f"csubi_{payer}",)
            )
            self.emit(f"paymentAttempt.{kind}", data)


Key = tuple[str, str]
"""A record: its table and its key values joined by "/"."""


def _writes(events: list[dict[str, Any]], svix_ids: list[str]) -> Iterator[tuple[Key, Write]]:
    """The record each event writes, and the write its event-type function makes of it, in Clerk's time
    order."""
    for svix_id, event in zip(svix_ids, events, strict=True):
        changes = changes_of(parse_event(json.dumps(event).encode(), svix_id, 0))
        assert changes.write is not None
        yield (changes.write.table, _key(changes.write.key)), changes.write


def expected_state(events: list[dict[str, Any]], svix_ids: list[str]) -> dict[Key, Any]:
    """The in-order state: each record as its latest event in Clerk's time wrote it."""
    return {key: write.item for key, write in _writes(events, svix_ids)}


def parents_of(events: list[dict[str, Any]]) -> dict[Key, set[Key]]:
    """The parents each record named in any of its events: a tombstone keeps only its key, so a domain
    deleted before its organization still belongs to that organization (whose clean-up may tombstone it
    again, at the organization's deletion time)."""
    parents: dict[Key, set[Key]] = {}
    for key, write in _writes(events, [f"msg_{n}" for n in range(len(events))]):
        parents.setdefault(key, set()).update((parent.table, parent.id) for parent in write.parents)
    return parents


def _key(key: dict[str, str]) -> str:
    return "/".join(key[name] for name in sorted(key))


def normalise(state: dict[Key, Any], parents: dict[Key, set[Key]]) -> dict[Key, Any]:
    """Records with a deleted parent are gone (the clean-up tombstones them); svix ids dropped."""
    deleted = {key for key, item in state.items() if item.get("deleted")}
    return {
        key: {k: v for k, v in item.items() if k != "svix_id"}
        for key, item in state.items()
        if not parents.get(key, set()) & deleted
    }


def stored_state(stack, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """What the tables hold for the given records."""
    out = {}
    for table, key in keys:
        spec = TABLES[Table(table)]
        values = dict(zip(sorted(spec.key_names), key.split("/"), strict=True))
        item_key = {name: {"S": values[name]} for name in spec.key_names}
        got = stack.dynamodb.get_item(
            TableName=stack.tables[spec.template_id], Key=item_key, ConsistentRead=True
        )
        if "Item" in got:
            out[(table, key)] = plain_item(got["Item"])
    return out
