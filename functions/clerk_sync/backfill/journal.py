"""Run records in the functions' own table (IdempotencyTable: not a synced table, TTL on `expiration`).

Items, by `id`:
- `backfill-run#<run id>`: the run (runs.py) as JSON in `body`, with `state` and `updated_at` beside it
  so that taking a run over is one conditional update;
- `backfill-run#<run id>#seen#<kind>#<page>`: with reconcile, the keys that page read for the first
  time: a resumed run reloads them, so that "confirm absent" still compares the stored records with
  everything the run read (memory as without resuming: one key per object);
- `backfill-runs`: the ids of the latest runs, newest first (`--status`, `--resume`).
Everything expires after RETENTION_DAYS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from clerk_sync.adapters.clerk.listings import Key
from clerk_sync.adapters.dynamodb.batch_get import BATCH_GET_LIMIT, UnprocessedKeysError, batch_get
from clerk_sync.backfill.failures import StorageError
from clerk_sync.backfill.runs import RunRecord, State, dump, load
from clerk_sync.domain.tables import Table

PREFIX = "backfill-run#"
INDEX_ID = "backfill-runs"
KEPT_RUNS = 20
RETENTION_DAYS = 30
UNPROCESSED_MAX_WAIT = 2.0  # s at most between requests for unprocessed keys
INDEX_ATTEMPTS = 8  # conditional writes of the index before a run gives up listing itself
LEASE_SECONDS = 120.0  # a `running` run without progress for this long is taken to have died (`claim`)


class RunBusyError(Exception):
    """Another process looks to be working on the run (it made progress less than LEASE_SECONDS ago)."""

    def __init__(self, run_id: str, idle_seconds: float) -> None:
        super().__init__(
            f"run {run_id} is running elsewhere (progress {idle_seconds:.0f} s ago); "
            f"a run without progress for {LEASE_SECONDS:.0f} s can be resumed"
        )
        self.run_id = run_id
        self.idle_seconds = idle_seconds


class Journal:
    """Reads and writes run records through a botocore DynamoDB client."""

    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    # --- runs ----------------------------------------------------------------------------------

    def create(self, record: RunRecord) -> None:
        """Record a new run and put it first in the index: a conditional write on the index's revision,
        read again and retried when another run changed it in between (a CLI run and ReconcileFunction
        starting at once both stay listed)."""
        self.save(record)
        for _ in range(INDEX_ATTEMPTS):
            listed, revision = self._index_item()
            runs = [record.run_id, *(r for r in listed if r != record.run_id)][:KEPT_RUNS]
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        "id": {"S": INDEX_ID},
                        "runs": {"S": json.dumps(runs)},
                        "revision": {"N": str(revision + 1)},
                        **self._expiration(),
                    },
                    ConditionExpression="attribute_not_exists(#r) OR #r = :seen",
                    ExpressionAttributeNames={"#r": "revision"},
                    ExpressionAttributeValues={":seen": {"N": str(revision)}},
                )
                return
            except self._client.exceptions.ConditionalCheckFailedException:
                continue
        raise StorageError(
            f"DynamoDB: the run index changed {INDEX_ATTEMPTS} times while this run was listed"
        )

    def save(self, record: RunRecord) -> None:
        """Write the record as it stands (its process holds it: see `claim`)."""
        record.updated_at = self._clock()
        self._client.put_item(
            TableName=self._table,
            Item={
                "id": {"S": PREFIX + record.run_id},
                "body": {"S": dump(record)},
                "state": {"S": record.state.value},
                "updated_at": {"N": repr(record.updated_at)},
                **self._expiration(),
            },
        )

    def claim(self, run_id: str, take_over: bool = False) -> RunRecord | None:
        """Take an unfinished run over (state `running`); None when there is no such run.

        Raises RunBusyError while another process looks to be making progress on it (a `running` run
        saved less than LEASE_SECONDS ago), unless `take_over`: then it is claimed all the same (for an
        operator who knows that process is gone, e.g. killed)."""
        now = self._clock()
        condition = "attribute_exists(#id) AND #s <> :done"
        values = {
            ":running": {"S": State.RUNNING.value},
            ":done": {"S": State.DONE.value},
            ":now": {"N": repr(now)},
        }
        if not take_over:
            condition += " AND (#s <> :running OR #u < :stale)"
            values[":stale"] = {"N": repr(now - LEASE_SECONDS)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": PREFIX + run_id}},
                UpdateExpression="SET #s = :running, #u = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#id": "id", "#s": "state", "#u": "updated_at"},
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            current = self.get(run_id)
            if current is None or not current.state.unfinished:
                return None
            raise RunBusyError(run_id, now - current.updated_at) from None
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord | None:
        answer = self._client.get_item(
            TableName=self._table, Key={"id": {"S": PREFIX + run_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return _record(item) if item else None

    def recent(self) -> list[RunRecord]:
        """The latest runs, newest first."""
        ids = self._index()
        items = self._batch_get([PREFIX + run_id for run_id in ids])
        records = {record.run_id: record for record in map(_record, items)}
        return [records[run_id] for run_id in ids if run_id in records]

    def last_unfinished(self, source: str | None = None) -> RunRecord | None:
        """The newest run that is not done (of `source`, when given)."""
        for record in self.recent():
            if record.state.unfinished and source in (None, record.source):
                return record
        return None

    # --- what a reconciling run read -----------------------------------------------------------

    def save_seen(self, run_id: str, table: Table, page: int, keys: Iterable[Key]) -> None:
        """The keys page `page` of a kind read for the first time."""
        listed = [list(key) for key in keys]
        if listed:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": _seen_id(run_id, table, page)},
                    "keys": {"S": json.dumps(listed, separators=(",", ":"))},
                    **self._expiration(),
                },
            )

    def seen(self, run_id: str, table: Table, pages: int) -> set[Key]:
        """Every key pages 1..`pages` of a kind read."""
        ids = [_seen_id(run_id, table, page) for page in range(1, pages + 1)]
        found: set[Key] = set()
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            for item in self._batch_get(ids[start : start + BATCH_GET_LIMIT]):
                found.update(tuple(key) for key in json.loads(item["keys"]["S"]))
        return found

    # --- helpers -------------------------------------------------------------------------------

    def _batch_get(self, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        try:
            return batch_get(
                self._client, self._table, [{"id": i} for i in ids], max_wait=UNPROCESSED_MAX_WAIT, attempts=8
            )
        except UnprocessedKeysError as error:
            raise StorageError(f"DynamoDB: {error}") from None

    def _index(self) -> list[str]:
        return self._index_item()[0]

    def _index_item(self) -> tuple[list[str], int]:
        """The listed run ids, newest first, and the index's revision (0: none yet)."""
        answer = self._client.get_item(
            TableName=self._table, Key={"id": {"S": INDEX_ID}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if not item:
            return [], 0
        return list(json.loads(item["runs"]["S"])), int(item.get("revision", {}).get("N", "0"))

    def _expiration(self) -> dict[str, Any]:
        return {"expiration": {"N": str(int(self._clock()) + RETENTION_DAYS * 86_400)}}


def _seen_id(run_id: str, table: Table, page: int) -> str:
    return f"{PREFIX}{run_id}#seen#{table.value}#{page}"


def _record(item: dict[str, Any]) -> RunRecord:
    return load(item["body"]["S"], State(item["state"]["S"]), float(item["updated_at"]["N"]))
