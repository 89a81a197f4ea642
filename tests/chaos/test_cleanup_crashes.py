"""A clean-up whose process dies mid-part still ends fully tombstoned, with no work repeated beyond
the re-run of that part: after its tombstones but before its continuation is sent, or after the
continuation is sent but before the part's idempotency record completes (the re-run then sends the
continuation again, and the duplicate is absorbed by the continuation's own idempotency key; or, when
the continuations have finished by then, it finds the rest tombstoned and reports `cleaned` too).
"""

from __future__ import annotations

from collections import Counter

import pytest
from cleanup_harness import cleanup_body, seed_organization, start, template_timeout, tombstoned_only
from queue_loop import cleanup_parts

MEMBERS = 2000
CRASH_PART = 2
SLICE_SECONDS = 0.2  # parts of a few hundred tombstones: the clean-up has well over CRASH_PART parts


@pytest.mark.parametrize("crash_at", ["before_send", "after_send"])
def test_a_crash_mid_part_reruns_that_part_only(stack, backend, tmp_path, crash_at):
    seed_organization(stack, "org_crash", MEMBERS)
    environ = {"CRASH_AT": crash_at, "CRASH_PART": str(CRASH_PART), "CRASH_MARKER": str(tmp_path / "crashed")}
    # the template's timeout: only a real overrun is a kill, however long the loaded machine stalls
    run = start(
        stack, backend, tmp_path, template_timeout(), SLICE_SECONDS, environ, preload=["crash_points"]
    )
    run.send([cleanup_body("organization_cleanup", "org_crash", "msg_crash")])
    # the crashed part runs twice, and after_send its continuation may too (the copy runs nothing)
    run.drain(max_batches=cleanup_parts("organization_cleanup", MEMBERS) + 2)

    function = run.recorder.function
    assert (function.died, function.killed) == (1, 0)  # it crashed once, never overran
    assert run.dead_letters() == 0
    members = [m for m in stack.items("MembershipsTable") if m["organization_id"] == "org_crash"]
    assert len(members) == MEMBERS and tombstoned_only(members, {"organization_id", "user_id"})

    # every part completed once, numbered 1..n (after_send: part 3 may run before part 2 is re-run),
    # and the duplicate continuation ran nothing
    parts = run.parts()
    assert sorted(p["part"] for p in parts) == list(range(1, len(parts) + 1)) and len(parts) > CRASH_PART
    # the crashed run's tombstones (at least one batch, unlogged: it died) were not written again:
    # the re-run of its part skips what is tombstoned already
    assert 0 < MEMBERS - sum(p["memberships"] for p in parts) <= MEMBERS
    handed = Counter(body.get("part", 1) for r in run.recorder.invocations for body in r.bodies)
    assert handed[CRASH_PART] == 2  # the crashed part's message came back once: the re-run
    # after_send: the crashed run's part 3 went on at once; the re-run of part 2 (a visibility timeout
    # later) sends part 3 again unless it found the rest tombstoned already: any copy ran nothing
    assert handed[CRASH_PART + 1] == 1 or crash_at == "after_send"
    assert all(n == 1 for part, n in handed.items() if part not in (CRASH_PART, CRASH_PART + 1))
