"""The run index keeps every run that lists itself, however their writes interleave (both engines)."""

from __future__ import annotations

from typing import Any

from clerk_sync.backfill.journal import INDEX_ID, Journal
from clerk_sync.backfill.report import Summary
from clerk_sync.backfill.runs import RunRecord
from stacks import Stack


def run_record(run_id: str, source: str) -> RunRecord:
    return RunRecord(Summary(run_id=run_id, dry_run=False, reconcile=False), {}, source, started_at=1.0)


class Interleaving:
    """A DynamoDB client that, before this process's first write of the index, lets another process
    list its own run: the write then finds the index changed since it was read."""

    def __init__(self, client: Any, other: Journal) -> None:
        self._client = client
        self._other = other
        self.interleaved = 0

    def put_item(self, **request: Any) -> Any:
        if request["Item"]["id"]["S"] == INDEX_ID and not self.interleaved:
            self.interleaved += 1
            self._other.create(run_record("backfill:lambda", "reconcile"))
        return self._client.put_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_two_runs_starting_at_once_are_both_listed(stack: Stack) -> None:
    table = stack.tables["IdempotencyTable"]
    other = Journal(stack.dynamodb, table)
    other.create(run_record("backfill:earlier", "cli"))
    client = Interleaving(stack.dynamodb, other)

    Journal(client, table).create(run_record("backfill:cli", "cli"))

    assert client.interleaved == 1
    listed = [record.run_id for record in Journal(stack.dynamodb, table).recent()]
    assert listed == ["backfill:cli", "backfill:lambda", "backfill:earlier"]
