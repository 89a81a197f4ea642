"""Reading what is stored: versions by key (BatchGetItem) and the live keys of a table (Scan).

Only the attributes a write's classification (actions.py) needs are projected (key, version, tombstone
mark, a kind's `content`, and Clerk's complete object, whose presence decides whether a record is filled
in: rules.newer), so that reads stay cheap (a 2,500-user page set is 25 BatchGetItem calls of 100 keys).
DynamoDB charges a read by the whole item's size whatever is projected: the complete object (compressed,
typically a few hundred bytes to 1.5 KB) costs transfer only, no read units.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import Any

from clerk_sync.adapters.clerk.listings import LISTINGS, Key
from clerk_sync.adapters.dynamodb.batch_get import BATCH_GET_LIMIT, UnprocessedKeysError, batch_get
from clerk_sync.adapters.dynamodb.values import deserialize
from clerk_sync.backfill.actions import Stored, key_dict
from clerk_sync.backfill.failures import StorageError
from clerk_sync.domain.rules import is_tombstone
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.settings import Tables

UNPROCESSED_ATTEMPTS = 8
UNPROCESSED_MAX_WAIT = 2.0  # s at most between requests for unprocessed keys


def _string(value: dict[str, Any]) -> str:
    return str(value["S"])


class StoredRecords:
    """Reads of the synced tables through a botocore DynamoDB client."""

    def __init__(self, client: Any, tables: Tables, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._names = {table: tables.name_of(table) for table in Table}
        self._sleep = sleep

    def get(self, table: Table, keys: Iterable[Key], pool: Executor | None = None) -> dict[Key, Stored]:
        """The stored version and tombstone mark (and the kind's `content` attributes) of each key that has
        a record (chunks read in `pool`)."""
        content = _content(table)
        unique = list(dict.fromkeys(keys))
        chunks = [unique[start : start + BATCH_GET_LIMIT] for start in range(0, len(unique), BATCH_GET_LIMIT)]
        answers = (
            pool.map(lambda c: self._batch_get(table, c), chunks)
            if pool
            else map(lambda c: self._batch_get(table, c), chunks)
        )
        found: dict[Key, Stored] = {}
        for items in answers:
            for item in items:
                plain = {name: deserialize(value) for name, value in item.items()}
                key = tuple(_string(item[name]) for name in TABLES[table].key_names)
                found[key] = Stored(
                    version=int(plain["version"]),
                    deleted=is_tombstone(plain),
                    content={n: plain[n] for n in content if n in plain} if content else None,
                    complete=CLERK in item,
                )
        return found

    def _batch_get(self, table: Table, keys: list[Key]) -> list[dict[str, Any]]:
        projection = tuple(
            dict.fromkeys((*TABLES[table].key_names, *_content(table), "version", "deleted", CLERK))
        )
        try:
            return batch_get(
                self._client,
                self._names[table],
                [key_dict(table, key) for key in keys],
                projection,
                max_wait=UNPROCESSED_MAX_WAIT,
                attempts=UNPROCESSED_ATTEMPTS,
                sleep=self._sleep,
            )
        except UnprocessedKeysError as error:
            raise StorageError(f"DynamoDB: {error}") from None

    def live(self, table: Table, fields: tuple[str, ...] = ()) -> Iterator[tuple[Key, dict[str, str]]]:
        """Every key of the table whose record is not a tombstone, with the string `fields` it has."""
        names = (*TABLES[table].key_names, *fields)
        key_count = len(TABLES[table].key_names)
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._names[table],
            ProjectionExpression=", ".join(f"#k{i}" for i in range(len(names))),
            FilterExpression="attribute_not_exists(#d)",  # rules.LIVE, as DynamoDB reads it
            ExpressionAttributeNames={**{f"#k{i}": n for i, n in enumerate(names)}, "#d": "deleted"},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                key = tuple(_string(item[name]) for name in names[:key_count])
                yield key, {name: _string(item[name]) for name in fields if "S" in item.get(name, {})}


def _content(table: Table) -> tuple[str, ...]:
    """The attributes classification compares for this table (parents that are no kind: none)."""
    return LISTINGS[table].content if table in LISTINGS else ()
