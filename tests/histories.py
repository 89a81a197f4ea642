"""A tiny Clerk that emits the webhook events of random histories, in Clerk's time order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from builders import envelope, membership, organization, session, user
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.planner import plan
from clerk_sync.domain.tables import Table
from clerk_sync_local.cli.dump import plain_item

T0 = 1_732_000_000_000
ACTIONS = ("user", "delete_user", "org", "delete_org", "join", "leave", "session", "end_session")


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
            role = "org:admin" if self.now % 3000 == 0 else "org:member"
            self.emit(
                f"organizationMembership.{kind}", membership(self.oid(j), self.uid(i), self.now, role=role)
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
        if table == Table.MEMBERSHIPS and (
            (Table.USERS, item["user_id"]) in deleted
            or (Table.ORGANIZATIONS, item["organization_id"]) in deleted
        ):
            continue
        if table == Table.SESSIONS and (Table.USERS, item["user_id"]) in deleted:
            continue
        out[(table, key)] = {k: v for k, v in item.items() if k != "svix_id"}
    return out


def stored_state(stack, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """What the tables hold for the given records."""
    logical = {
        Table.USERS: "UsersTable",
        Table.ORGANIZATIONS: "OrganizationsTable",
        Table.MEMBERSHIPS: "MembershipsTable",
        Table.SESSIONS: "SessionsTable",
    }
    out = {}
    for table, key in keys:
        parts = key.split("/")
        item_key = (
            {"organization_id": {"S": parts[0]}, "user_id": {"S": parts[1]}}
            if table == Table.MEMBERSHIPS
            else {"id": {"S": parts[0]}}
        )
        got = stack.dynamodb.get_item(
            TableName=stack.tables[logical[table]], Key=item_key, ConsistentRead=True
        )
        if "Item" in got:
            out[(table, key)] = plain_item(got["Item"])
    return out
