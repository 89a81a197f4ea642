"""Clean-ups of any size finish: an organization's memberships and a user's memberships and sessions
are tombstoned in parts, each invocation in its own process that is killed if it overruns its timeout.

Every run has the template's timeout (30 s): an invocation is killed only past what Lambda would
allow, however long a loaded 2-core machine stalls the local engines. `make test` deletes an
organization of `CLEANUP_MEMBERSHIPS` (default 3,000) memberships with parts cut at a tenth of the
deployed slice (0.5 s), so that it takes many parts and continuations; `make chaos` sets 150,000 and
`CLEANUP_TIMEOUT=template` (the deployed slice too) and appends the run's figures to $CHAOS_SUMMARY.
`CLEANUP_MEMBERSHIPS_MOTO` / `CLEANUP_MEMBERSHIPS_DYNAMODB_LOCAL` override the size on one engine.
"""

from __future__ import annotations

import json
import os
from collections import Counter

from cleanup_harness import (
    cleanup_body,
    seed_organization,
    seed_user,
    start,
    template_timeout,
    tombstoned_only,
    welcome_body,
)
from clerk_sync.domain.deadline import CleanupBudget
from queue_loop import cleanup_parts

SMALL_SLICE = CleanupBudget().slice_seconds / 10  # s: make test's parts
USER_MEMBERSHIPS, USER_SESSIONS = 400, 600
WELCOMES = 8


def size(engine: str) -> int:
    """How many memberships the organization has on this engine."""
    own = os.environ.get(f"CLEANUP_MEMBERSHIPS_{engine.upper().replace('-', '_')}")
    return int(own or os.environ.get("CLEANUP_MEMBERSHIPS") or 3000)


def part_slice() -> float | None:
    """A part's slice: make test's small one, or the deployed one (None) with CLEANUP_TIMEOUT=template."""
    return None if os.environ.get("CLEANUP_TIMEOUT") == "template" else SMALL_SLICE


def test_cleanups_of_any_size_finish_without_holding_up_their_batch(stack, backend, tmp_path):
    members, seconds, slice_seconds = size(backend.name), template_timeout(), part_slice()
    seed_organization(stack, "org_big", members)
    seed_organization(stack, "org_kept", 30)
    seed_user(stack, "user_gone", USER_MEMBERSHIPS, USER_SESSIONS)
    run = start(stack, backend, tmp_path, seconds, slice_seconds)
    bodies = [
        cleanup_body("organization_cleanup", "org_big", "msg_org_deleted"),
        cleanup_body("user_cleanup", "user_gone", "msg_user_deleted"),
        *(welcome_body(n) for n in range(WELCOMES)),
    ]
    ids = run.send(bodies)
    most = cleanup_parts("organization_cleanup", members)
    took = run.drain(max_batches=most + cleanup_parts("user_cleanup", USER_MEMBERSHIPS + USER_SESSIONS))

    # nothing was killed, nothing is parked (a part that fails, e.g. an engine's read timeout under
    # load, is retried like any message: counted, not forbidden)
    invocations = run.recorder.invocations
    assert run.recorder.function.killed == 0 and run.recorder.function.died == 0
    assert [r.invocation.error for r in invocations] == [None] * len(invocations)
    failed = [f["itemIdentifier"] for r in invocations for f in r.invocation.result["batchItemFailures"]]
    assert run.dead_letters() == 0
    # the first invocation had the whole batch, and finished the welcomes: none came back
    assert set(ids) <= set(invocations[0].message_ids)
    assert all(run.recorder.received()[m] == 1 and m not in failed for m in ids[2:])

    # everything tombstoned, keys and deletion marks only; nothing else touched
    memberships = stack.items("MembershipsTable")
    org_big = [m for m in memberships if m["organization_id"] == "org_big"]
    of_user = [m for m in memberships if m["user_id"] == "user_gone"]
    sessions = stack.items("SessionsTable")
    assert (len(org_big), len(of_user), len(sessions)) == (members, USER_MEMBERSHIPS, USER_SESSIONS)
    assert tombstoned_only(org_big + of_user, {"organization_id", "user_id"})
    assert tombstoned_only(sessions, {"id"})
    kept = [m for m in memberships if m["organization_id"] == "org_kept"]
    assert len(kept) == 30 and not any(m.get("deleted") for m in kept)

    # each part ran once, numbered 1..n per clean-up, and wrote each tombstone once
    parts = run.parts()
    by_kind = Counter(p["kind"] for p in parts)
    for kind in ("organization_cleanup", "user_cleanup"):
        numbers = [p["part"] for p in parts if p["kind"] == kind]
        assert numbers == list(range(1, by_kind[kind] + 1))
        [last] = [p for p in parts if p["kind"] == kind and p["outcome"] == "cleaned"]
        assert last["part"] == by_kind[kind]
    written = Counter()
    for p in parts:
        written[p["kind"]] += p["memberships"] + p.get("sessions", 0)
    assert written == {"organization_cleanup": members, "user_cleanup": USER_MEMBERSHIPS + USER_SESSIONS}

    figures = {
        "engine": backend.name,
        "memberships": members,
        "timeout_seconds": seconds,
        "slice_seconds": slice_seconds or CleanupBudget().slice_seconds,
        "invocations": len(invocations),
        "parts": dict(by_kind),
        "killed": run.recorder.function.killed,
        "failed_records": len(failed),
        "dead_letters": run.dead_letters(),
        "seconds": round(took, 1),
        "tombstones_per_second": round(sum(written.values()) / took),
    }
    print("clean-up at scale", figures)
    if path := os.environ.get("CHAOS_SUMMARY"):
        with open(path, "a") as out:
            out.write(json.dumps({"test": "cleanup_at_scale", **figures}) + "\n")
