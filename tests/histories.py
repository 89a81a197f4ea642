"""A tiny Clerk that emits the webhook events of random histories, in Clerk's time order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from builders import envelope, invitation, membership, organization, role, session, subscription_item, user
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.planner import plan
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync_local.cli.dump import plain_item

T0 = 1_732_000_000_000
ACTIONS = (
    "user", "delete_user", "org", "delete_org", "join", "leave", "session", "end_session",
    "invite", "role", "delete_role", "bill",
)  # fmt: skip
ITEM_STATUSES = ("upcoming", "active", "past_due", "active", "canceled", "ended")


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
    items: dict[int, int] = field(default_factory=dict)  # user -> its item's step in ITEM_STATUSES
    events: list[dict[str, Any]] = field(default_factory=list)

    def uid(self, i: int) -> str:
        return f"user_{self.ns}{i}"

    def oid(self, j: int) -> str:
        return f"org_{self.ns}{j}"

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append(envelope(event_type, data, self.now))

    def act(self, action: str, i: int, j: int) -> None:
        self.now += 1000
        alive_user, alive_org = self.users.get(i) == "live", self.orgs.get(j) == "live"
        if action == "user" and self.users.get(i) != "deleted":
            self.emit(
                "user.updated" if alive_user else "user.created",
                user(self.uid(i), self.now, first_name=f"v{self.now}", email=f"{self.uid(i)}@example.com"),
            )
            self.users[i] = "live"
        elif action == "delete_user" and alive_user:
            self.emit("user.deleted", {"object": "user", "id": self.uid(i), "deleted": True})
            self.users[i] = "deleted"
        elif action == "org" and self.orgs.get(j) != "deleted":
            self.emit(
                "organization.updated" if alive_org else "organization.created",
                organization(self.oid(j), self.now, name=f"n{self.now}"),
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
                membership(self.oid(j), self.uid(i), self.now, role=member_role),
            )
            self.members[(j, i)] = True
        elif action == "leave" and alive_user and alive_org and self.members.get((j, i)):
            self.emit("organizationMembership.deleted", membership(self.oid(j), self.uid(i), self.now - 500))
            self.members[(j, i)] = False
        elif action == "session" and alive_user:
            self.session_count += 1
            self.sessions.setdefault(i, []).append(self.session_count)
            self.emit(
                "session.created", session(f"sess_{self.ns}{self.session_count}", self.uid(i), self.now)
            )
        elif action == "invite" and alive_org:
            open_one = self.invitations.pop(j, None)
            if open_one is None or not alive_user:  # a new invitation (or the open one revoked)
                if open_one is not None:
                    data = invitation(f"orginv_{self.ns}{open_one}", self.oid(j), self.now, status="revoked")
                    self.emit("organizationInvitation.revoked", data)
                    return
                self.invitation_count += 1
                self.invitations[j] = self.invitation_count
                data = invitation(f"orginv_{self.ns}{self.invitation_count}", self.oid(j), self.now)
                self.emit("organizationInvitation.created", data)
            else:  # accepted by user i
                data = invitation(
                    f"orginv_{self.ns}{open_one}",
                    self.oid(j),
                    self.now,
                    status="accepted",
                    user_id=self.uid(i),
                )
                self.emit("organizationInvitation.accepted", data)
        elif action == "role" and self.roles.get(i) != "deleted":
            kind = "updated" if self.roles.get(i) == "live" else "created"
            perms = ("org:docs:read",) if self.now % 2000 else ("org:docs:read", "org:docs:write")
            self.emit(
                f"role.{kind}", role(f"role_{self.ns}{i}", self.now, key=f"org:r{i}", permissions=perms)
            )
            self.roles[i] = "live"
        elif action == "delete_role" and self.roles.get(i) == "live":
            self.emit("role.deleted", {"object": "role", "id": f"role_{self.ns}{i}", "deleted": True})
            self.roles[i] = "deleted"
        elif action == "bill" and alive_user:
            step = min(self.items.get(i, -1) + 1, len(ITEM_STATUSES) - 1)
            self.items[i] = step
            status = ITEM_STATUSES[step]
            event_type = "subscriptionItem." + {"past_due": "pastDue"}.get(status, status)
            self.emit(event_type, subscription_item(f"csubi_{self.ns}{i}", self.uid(i), status=status))
        elif action == "end_session" and alive_user and self.sessions.get(i):
            number = self.sessions[i].pop(0)
            self.emit(
                "session.ended", session(f"sess_{self.ns}{number}", self.uid(i), self.now, status="ended")
            )


def expected_state(events: list[dict[str, Any]], svix_ids: list[str]) -> dict[tuple[str, str], Any]:
    """The in-order state: each record as its latest event in Clerk's time wrote it."""
    state: dict[tuple[str, str], Any] = {}
    for svix_id, event in zip(svix_ids, events, strict=True):
        planned = plan(parse_event(json.dumps(event).encode(), svix_id, 0))
        assert planned.write is not None
        state[(planned.write.table, _key(planned.write.key))] = planned.write.item
    return state


def _key(key: dict[str, str]) -> str:
    return "/".join(key[name] for name in sorted(key))


def normalise(state: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Children of deleted users/organizations are gone (the clean-up removes them); svix ids dropped."""
    deleted = {(table, key) for (table, key), item in state.items() if item.get("deleted")}
    out = {}
    for (table, key), item in state.items():
        parents = [(link.table, item.get(link.field)) for link in TABLES[Table(table)].parents]
        if any(parent in deleted for parent in parents):
            continue
        out[(table, key)] = {k: v for k, v in item.items() if k != "svix_id"}
    return out


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
