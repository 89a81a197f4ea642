"""Backfill planning and retry decisions: API object → write → action; waits (no I/O)."""

from __future__ import annotations

import re

import pytest
from builders import membership, organization, user
from clerk_sync.backfill import planning, retry
from clerk_sync.backfill.clerk_api import retry_after_seconds
from clerk_sync.backfill.failures import ApiError, ApiUnreachableError, RateLimitedError, RetryableError
from clerk_sync.backfill.planning import Action, Stored
from clerk_sync.domain.plans import InvalidEventError
from clerk_sync.domain.tables import Table

RUN = "backfill:test"
NOW = 1_800_000_000_000


def test_objects_become_the_writes_their_updated_webhooks_make() -> None:
    write = planning.synthesize(Table.USERS, user("user_1", 5), RUN, NOW)

    assert write.key == {"id": "user_1"} and write.version == 5 and not write.tombstone
    assert write.item["svix_id"] == RUN and write.item["email"] == "ann@example.com"

    joined = planning.synthesize(Table.MEMBERSHIPS, membership("org_1", "user_1", 7), RUN, NOW)

    assert joined.key == {"organization_id": "org_1", "user_id": "user_1"} and len(joined.parents) == 2
    assert planning.key_of(Table.MEMBERSHIPS, joined.key) == ("org_1", "user_1")


def test_objects_lacking_what_the_write_path_needs_are_refused() -> None:
    broken = organization("org_1", 5)
    del broken["updated_at"]

    with pytest.raises(InvalidEventError):
        planning.synthesize(Table.ORGANIZATIONS, broken, RUN, NOW)
    assert planning.object_key(Table.MEMBERSHIPS, {"organization": {"id": "org_1"}}) is None


@pytest.mark.parametrize(
    ("table", "stored", "parent_tombstoned", "action"),
    [
        (Table.USERS, None, False, Action.CREATE),
        (Table.USERS, Stored(4, False), False, Action.UPDATE),
        (Table.USERS, Stored(5, False), False, Action.UNCHANGED),
        (Table.USERS, Stored(6, False), False, Action.STALE),
        (Table.USERS, Stored(1, True), False, Action.STALE),  # final tombstone
        (Table.MEMBERSHIPS, Stored(4, True), False, Action.UPDATE),  # a re-join after leaving
        (Table.MEMBERSHIPS, Stored(5, True), False, Action.STALE),
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
    write = planning.synthesize(table, objects[table], RUN, NOW)

    assert planning.classify(write, stored, parent_tombstoned) is action


def test_tombstones_replace_live_records_only() -> None:
    gone = planning.tombstone(Table.USERS, ("user_1",), RUN, NOW)
    left = planning.tombstone(Table.MEMBERSHIPS, ("org_1", "user_1"), RUN, NOW)

    assert gone.tombstone and gone.version == NOW and gone.key == {"id": "user_1"}
    assert left.key == {"organization_id": "org_1", "user_id": "user_1"}
    assert planning.classify(gone, Stored(NOW + 5, False)) is Action.TOMBSTONE  # deletion is final
    assert planning.classify(gone, Stored(1, True)) is Action.STALE
    assert planning.classify(left, Stored(NOW + 5, False)) is Action.STALE  # re-joined since
    assert planning.classify(left, None) is Action.STALE


def test_missing_is_what_a_complete_read_did_not_return() -> None:
    assert planning.missing([("b",), ("a",), ("c",)], {("b",)}) == [("a",), ("c",)]


def test_every_run_has_its_own_svix_id() -> None:
    first, second = planning.new_run_id(), planning.new_run_id()

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
