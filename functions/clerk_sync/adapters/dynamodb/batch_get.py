"""Strong BatchGetItem reads of one table, unprocessed keys asked again: the read library's and backfill's.

botocore's client only: no PynamoDB, so that the read library stays light to import.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
UNPROCESSED_BASE_WAIT = 0.05  # s before asking again for unprocessed keys, doubled each time up to a cap

RawItem = dict[str, Any]  # DynamoDB's AttributeValues


class UnprocessedKeysError(Exception):
    """Keys were left unprocessed by every attempt allowed."""


def batch_get(
    client: Any,
    table_name: str,
    keys: Iterable[Mapping[str, str]],
    projection: tuple[str, ...] = (),
    *,
    max_wait: float,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RawItem]:
    """The stored items among `keys` (string key attributes, at most `BATCH_GET_LIMIT`), read strongly,
    with only the `projection` attributes when given. Unprocessed keys (throttling) are asked again after
    waits of 0.05 s doubling up to `max_wait`; after `attempts` requests (None: no limit) it raises
    UnprocessedKeysError."""
    request: dict[str, Any] = {
        "Keys": [{name: {"S": value} for name, value in key.items()} for key in keys],
        "ConsistentRead": True,
    }
    if projection:
        names = {f"#p{n}": name for n, name in enumerate(projection)}
        request.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    pending: dict[str, Any] = {table_name: request}
    items: list[RawItem] = []
    for attempt in itertools.count() if attempts is None else range(attempts):
        answer = client.batch_get_item(RequestItems=pending)
        items.extend(answer.get("Responses", {}).get(table_name, []))
        pending = answer.get("UnprocessedKeys") or {}
        if not pending:
            return items
        sleep(min(max_wait, UNPROCESSED_BASE_WAIT * 2**attempt))
    raise UnprocessedKeysError(f"keys of {table_name} left unprocessed {attempts} times")
