"""ensure_user / ensure_organization against the fake Clerk Backend API (real HTTP) and both engines:
missing, present, deleted and unknown records, callers racing each other, and webhooks racing them."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from builders import envelope, organization, signed, user
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import TABLES
from clerk_sync.domain.writes import Write
from clerk_sync.read import ClerkData, ClerkUnavailableError, Organization, User
from clerk_sync.settings import ConfigError
from fakes.clerk_api import SECRET_KEY, FakeClerkApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stacks import Stack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:clerk_backend_api.*")
V = 1_733_000_000_000  # the version (updated_at) of the user the fake Clerk holds
_ids = itertools.count()


@dataclass
class Rig:
    stack: Stack
    api: FakeClerkApi

    def reader(self, secret_key: str | None = SECRET_KEY) -> ClerkData:
        """A ClerkData (one per "process") over the stack's tables, reading Clerk from the fake."""
        return ClerkData(
            tables={table: self.stack.tables[spec.template_id] for table, spec in TABLES.items()},
            region=self.stack.endpoints.region,
            endpoint_url=self.stack.endpoints.dynamodb,
            clerk_secret_key=secret_key,
            clerk_api_url=self.api.url,
        )

    def deliver(self, event: dict[str, Any]) -> str:
        status, body = self.stack.deliver(signed(event))
        assert status == 200, body
        return str(body["status"])

    def stored(self, logical_id: str, object_id: str) -> dict[str, Any] | None:
        items = [i for i in self.stack.items(logical_id) if i["id"] == object_id]
        return items[0] if items else None


@pytest.fixture
def rig(stack: Stack) -> Iterator[Rig]:
    with FakeClerkApi() as api:
        yield Rig(stack, api)


def without_svix_id(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else {k: v for k, v in item.items() if k != "svix_id"}


def write_of(event: dict[str, Any]) -> Write:
    """What the receiver writes for an event (the in-order model's step)."""
    changes = changes_of(parse_event(json.dumps(event).encode(), "msg_model", 0))
    assert changes.write is not None
    return changes.write


def test_a_missing_user_is_fetched_stored_like_its_webhook_and_then_read_from_the_table(rig):
    clerk_object = rig.api.data.add_user("user_fu_missing", V - 60_000, V)
    read = rig.reader()

    got = read.ensure_user("user_fu_missing")

    assert got is not None and got.version == V and got.email == "user_fu_missing@example.com"
    stored = rig.stored("UsersTable", "user_fu_missing")
    assert stored is not None and stored["svix_id"].startswith("first-use:")
    webhook = write_of(envelope("user.updated", clerk_object, V))
    assert without_svix_id(stored) == without_svix_id(webhook.item)
    assert got == User.from_item(stored)
    assert rig.api.count("/v1/users/user_fu_missing") == 1
    assert read.ensure_user("user_fu_missing") == got
    assert rig.reader().ensure_user("user_fu_missing") == got
    assert rig.api.count("/v1/users/") == 1  # stored now: read from the table only


def test_a_present_user_is_read_from_the_table_without_asking_clerk(rig):
    rig.api.data.add_user("user_fu_present", V - 60_000, V)
    rig.deliver(envelope("user.created", user("user_fu_present", V + 5, email="p@example.com"), V + 5))

    got = rig.reader().ensure_user("user_fu_present")

    assert got is not None and got.version == V + 5 and got.email == "p@example.com"
    assert rig.api.count() == 0


def test_a_deleted_user_is_none_and_its_tombstone_is_never_revived(rig):
    rig.api.data.add_user("user_fu_deleted", V - 60_000, V)  # Clerk's answer would be a live user
    rig.deliver(envelope("user.created", user("user_fu_deleted", V - 10), V - 10))
    rig.deliver(envelope("user.deleted", {"object": "user", "id": "user_fu_deleted", "deleted": True}, V - 5))
    rig.api.data.add_user("user_fu_gone", V - 60_000, V)
    rig.deliver(envelope("user.deleted", {"object": "user", "id": "user_fu_gone", "deleted": True}, V - 5))

    read = rig.reader()
    assert read.ensure_user("user_fu_deleted") is None
    assert read.ensure_user("user_fu_gone") is None
    assert rig.api.count() == 0
    for user_id in ("user_fu_deleted", "user_fu_gone"):
        stored = rig.stored("UsersTable", user_id)
        assert stored is not None and stored["deleted"] is True and "email" not in stored


def test_a_user_clerk_does_not_know_is_none_and_nothing_is_written(rig):
    assert rig.reader().ensure_user("user_fu_unknown") is None
    assert rig.api.count("/v1/users/user_fu_unknown", status=404) == 1
    assert rig.stack.items("UsersTable") == []


def test_organizations_the_same_way(rig):
    rig.api.data.add_organization("org_fu_missing", V - 60_000, V)
    read = rig.reader()
    got = read.ensure_organization("org_fu_missing")
    assert isinstance(got, Organization) and got.version == V and got.slug == "org-fu-missing"
    assert read.organization_by_slug("org-fu-missing") == got
    assert read.ensure_organization("org_fu_unknown") is None
    rig.deliver(envelope("organization.created", organization("org_fu_x", V, slug="fu-x"), V))
    rig.deliver(envelope("organization.deleted", {"object": "organization", "id": "org_fu_x"}, V + 1))
    assert read.ensure_organization("org_fu_x") is None
    assert rig.api.count() == 2


def test_two_callers_at_once_both_return_the_user_and_one_writes(rig, caplog):
    caplog.set_level(logging.INFO, logger="clerk_sync.read")
    rig.api.data.add_user("user_fu_race", V - 60_000, V)
    both_asking = threading.Barrier(2, timeout=10)
    rig.api.before_request = lambda path, query: both_asking.wait()
    readers = [rig.reader(), rig.reader()]
    results: list[User | None] = [None, None]

    def call(n: int) -> None:
        results[n] = readers[n].ensure_user("user_fu_race")

    threads = [threading.Thread(target=call, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results[0] is not None and results[0] == results[1] and results[0].version == V
    outcomes = sorted(r.outcome for r in caplog.records if r.name == "clerk_sync.read")  # type: ignore[attr-defined]
    assert outcomes == ["applied", "stale"]
    for record in caplog.records:  # no personal data in the logs
        assert "user_fu_race" not in record.getMessage() and "@" not in json.dumps(
            record.__dict__, default=str
        )


CALLER = """
import json, logging, sys
from clerk_sync.read import ClerkData

outcomes = []
class Outcomes(logging.Handler):
    def emit(self, record):
        outcomes.append(record.outcome)

log = logging.getLogger("clerk_sync.read")
log.addHandler(Outcomes())
log.setLevel(logging.INFO)
got = ClerkData(**json.loads(sys.argv[1])).ensure_user(sys.argv[2])
print(json.dumps({"user": None if got is None else [got.id, got.version, got.email], "outcomes": outcomes}))
"""


def test_two_processes_at_once_both_return_the_user_and_one_writes(rig):
    rig.api.data.add_user("user_fu_procs", V - 60_000, V)
    both_asking = threading.Barrier(2, timeout=30)
    rig.api.before_request = lambda path, query: both_asking.wait()
    arguments = {
        "tables": {table.value: rig.stack.tables[spec.template_id] for table, spec in TABLES.items()},
        "region": rig.stack.endpoints.region,
        "endpoint_url": rig.stack.endpoints.dynamodb,
        "clerk_secret_key": SECRET_KEY,
        "clerk_api_url": rig.api.url,
    }
    command = [sys.executable, "-c", CALLER, json.dumps(arguments), "user_fu_procs"]
    callers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    answers = [json.loads(caller.communicate(timeout=60)[0]) for caller in callers]

    assert [a["user"] for a in answers] == [["user_fu_procs", V, "user_fu_procs@example.com"]] * 2
    assert sorted(o for a in answers for o in a["outcomes"]) == ["applied", "stale"]
    assert rig.api.count("/v1/users/user_fu_procs") == 2


def test_without_a_secret_key_a_miss_is_a_configuration_error_and_a_bad_key_is_unavailable(rig):
    rig.api.data.add_user("user_fu_key", V - 60_000, V)
    with pytest.raises(ConfigError, match="CLERK_SECRET_KEY"):
        rig.reader(secret_key=None).ensure_user("user_fu_key")
    with pytest.raises(ClerkUnavailableError, match="rejected the secret key"):
        rig.reader(secret_key="sk_test_wrong").ensure_user("user_fu_key")
    assert rig.stack.items("UsersTable") == []


# --- a webhook racing ensure_user -----------------------------------------------------------------

EVENTS = {
    "older update": lambda uid: envelope("user.updated", user(uid, V - 1000, first_name="Older"), V - 1000),
    "newer update": lambda uid: envelope("user.updated", user(uid, V + 1000, first_name="Newer"), V + 1000),
    "deletion": lambda uid: envelope(
        "user.deleted", {"object": "user", "id": uid, "deleted": True}, V + 2000
    ),
    # a deletion versioned before Clerk's answer (clock skew, a timestamp in seconds): still final
    "early deletion": lambda uid: envelope(
        "user.deleted", {"object": "user", "id": uid, "deleted": True}, V - 500
    ),
}
WHEN = ("before", "during", "after")  # delivered before the call, while it asks Clerk, after it returns


def in_order(writes: list[Write]) -> dict[str, Any] | None:
    """The in-order model's record: a deletion is final, otherwise the newest version."""
    if not writes:
        return None
    deletions = [w for w in writes if w.tombstone]
    return (deletions[0] if deletions else max(writes, key=lambda w: w.version)).item


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    timing=st.dictionaries(st.sampled_from(sorted(EVENTS)), st.sampled_from(WHEN), max_size=3).filter(
        lambda t: not ({"deletion", "early deletion"} <= set(t))
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_newer_version_wins_and_a_tombstone_is_never_revived_in_every_interleaving(rig, timing, order):
    user_id = f"user_fu_h{next(_ids)}"
    clerk_object = rig.api.data.add_user(user_id, V - 60_000, V)
    events = {name: EVENTS[name](user_id) for name in timing}
    phase = {when: [n for n in sorted(timing) if timing[n] == when] for when in WHEN}
    for names in phase.values():
        order.shuffle(names)
    delivered: list[str] = []

    def deliver(names: list[str]) -> None:
        for name in names:
            rig.deliver(events[name])
            delivered.append(name)

    def during(path: str, query: Any) -> None:
        if path == f"/v1/users/{user_id}":
            deliver(phase["during"])

    rig.api.before_request = during
    deliver(phase["before"])
    got = rig.reader().ensure_user(user_id)
    asked = rig.api.count(f"/v1/users/{user_id}") == 1
    assert asked == (not phase["before"])  # Clerk is asked only when nothing at all is stored
    fetched = [write_of(envelope("user.updated", clerk_object, V))] if asked else []

    expected = in_order([write_of(events[n]) for n in delivered] + fetched)
    assert got == (None if expected is None or expected.get("deleted") else User.from_item(expected))

    if not asked:
        deliver(phase["during"])
    deliver(phase["after"])
    final = in_order([write_of(events[n]) for n in delivered] + fetched)
    assert without_svix_id(rig.stored("UsersTable", user_id)) == without_svix_id(final)
    again = rig.reader().ensure_user(user_id)
    assert again == (None if final is None or final.get("deleted") else User.from_item(final))
