"""Run records survive their JSON round trip, and `--status` prints them."""

from __future__ import annotations

from clerk_sync.backfill.actions import Action
from clerk_sync.backfill.report import KindCounts, Summary
from clerk_sync.backfill.runs import KindProgress, RunRecord, Stage, State, dump, format_status, load
from clerk_sync.domain.tables import Table


def record() -> RunRecord:
    summary = Summary(run_id="backfill:r1", dry_run=False, reconcile=True, api_requests=7, seconds=3.5)
    users = KindCounts(Table.USERS, total=30, read=19, pages=2, tombstoned=[("user_1",)])
    users.actions[Action.CREATE] = 18
    users.actions[Action.STALE] = 1
    summary.kinds = {
        Table.USERS: users,
        Table.ORGANIZATIONS: KindCounts(Table.ORGANIZATIONS, skipped="not enabled on this instance, skipped"),
    }
    return RunRecord(
        summary,
        {"kinds": ["users", "organizations", "memberships"]},
        "cli",
        started_at=1_800_000_000.0,
        progress={
            Table.USERS: KindProgress(Stage.READING, offset=18, anchor=[("user_17",)], started_at=1.0),
            Table.ORGANIZATIONS: KindProgress(Stage.SKIPPED),
            Table.MEMBERSHIPS: KindProgress(),
        },
        state=State.FAILED,
        updated_at=1_800_000_060.0,
    )


def test_a_record_survives_its_round_trip() -> None:
    original = record()
    assert load(dump(original), State.FAILED, 1_800_000_060.0) == original


def test_status_lists_each_kind() -> None:
    first, *kinds = format_status([record()])
    assert first.startswith("run backfill:r1 (cli with reconcile): failed, started 2027-01-15 08:00:00 UTC")
    assert [" ".join(line.split()) for line in kinds] == [
        "users reading pages 2 read 19 written 18 stale 1",
        "organizations skipped (not enabled on this instance, skipped)",
        "memberships pending",
    ]
    assert format_status([]) == ["no backfill runs recorded"]
