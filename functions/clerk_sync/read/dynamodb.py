"""Strong and index reads of DynamoDB for `ClerkData`: GetItem, BatchGetItem, Query pages; never a Scan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clerk_sync.adapters.dynamodb.batch_get import BATCH_GET_LIMIT, batch_get
from clerk_sync.adapters.dynamodb.values import deserialize
from clerk_sync.domain.rules import is_tombstone

UNPROCESSED_MAX_WAIT = 1.0  # s at most between requests for unprocessed keys (asked again until read)

Item = dict[str, Any]


class Reads:
    """Reads through one botocore DynamoDB client; items come back as plain Python values."""

    def __init__(self, client: Any, page_size: int | None = None) -> None:
        """`page_size`: items per Query page (None: DynamoDB's, up to 1 MB)."""
        self.client = client
        self.page_size = page_size

    def get(self, table_name: str, key: Mapping[str, str]) -> Item | None:
        """The item under the key (a strong read), or None."""
        answer = self.client.get_item(TableName=table_name, Key=_key(key), ConsistentRead=True)
        return _plain(answer["Item"]) if "Item" in answer else None

    def pages(self, **query: Any) -> Iterator[list[Item]]:
        """The items of each page of a Query, read when asked for."""
        paging = {"PageSize": self.page_size} if self.page_size else {}
        for page in self.client.get_paginator("query").paginate(**query, PaginationConfig=paging):
            yield [_plain(item) for item in page["Items"]]

    def index_ids(self, table_name: str, index: str, attribute: str, value: str) -> list[str]:
        """The ids an index holds for a value (keys only)."""
        ids: list[str] = []
        for page in self.pages(
            TableName=table_name,
            IndexName=index,
            KeyConditionExpression="#attribute = :value",
            ExpressionAttributeNames={"#attribute": attribute, "#id": "id"},
            ExpressionAttributeValues={":value": {"S": value}},
            ProjectionExpression="#id",
        ):
            ids.extend(item["id"] for item in page)
        return ids

    def live_items(self, table_name: str, ids: list[str], attribute: str, value: str) -> list[Item]:
        """The live records among `ids` that (read strongly) still hold `value` in `attribute`."""
        items = self.batch_get(table_name, ids).values()
        return [i for i in items if not is_tombstone(i) and i.get(attribute) == value]

    def tombstoned(self, table_name: str, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are tombstones in the table (strong reads of their keys and marks)."""
        marks = self.batch_get(table_name, ids, projection=("id", "deleted"))
        return {object_id for object_id, item in marks.items() if is_tombstone(item)}

    def batch_get(
        self, table_name: str, ids: Iterable[str], projection: tuple[str, ...] = ()
    ) -> dict[str, Item]:
        """Records by id (those stored), read strongly, 100 keys a request, unprocessed keys asked again."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [{"id": object_id} for object_id in wanted[start : start + BATCH_GET_LIMIT]]
            for item in batch_get(self.client, table_name, keys, projection, max_wait=UNPROCESSED_MAX_WAIT):
                plain = _plain(item)
                found[plain["id"]] = plain
        return found


def _key(key: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


def _plain(item: Mapping[str, Any]) -> Item:
    return {name: deserialize(value) for name, value in item.items()}
