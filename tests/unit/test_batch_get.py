"""The one BatchGetItem path of the read library and backfill: strong reads, projection, unprocessed
keys asked again after doubling waits (capped), and a limit on attempts when the caller sets one."""

from __future__ import annotations

from typing import Any

import pytest
from clerk_sync.adapters.dynamodb.batch_get import UnprocessedKeysError, batch_get


class Throttled:
    """A botocore-like client that leaves every key unprocessed `times` times, then answers."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        if len(self.requests) <= self.times:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        keys = RequestItems["t"]["Keys"]
        return {"Responses": {"t": [{**key, "version": {"N": "1"}} for key in keys]}, "UnprocessedKeys": {}}


def test_unprocessed_keys_are_asked_again_after_doubling_capped_waits():
    client, waits = Throttled(times=3), []
    items = batch_get(
        client, "t", [{"id": "a"}, {"id": "b"}], ("id", "version"), max_wait=0.15, sleep=waits.append
    )
    assert items == [{"id": {"S": "a"}, "version": {"N": "1"}}, {"id": {"S": "b"}, "version": {"N": "1"}}]
    assert waits == [0.05, 0.1, 0.15]
    assert client.requests[0] == {
        "t": {
            "Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}],
            "ConsistentRead": True,
            "ProjectionExpression": "#p0, #p1",
            "ExpressionAttributeNames": {"#p0": "id", "#p1": "version"},
        }
    }


def test_a_limit_on_attempts_ends_in_an_error():
    client, waits = Throttled(times=5), []
    with pytest.raises(UnprocessedKeysError, match=r"^keys of t left unprocessed 2 times$"):
        batch_get(client, "t", [{"id": "a"}], max_wait=2.0, attempts=2, sleep=waits.append)
    assert len(client.requests) == 2
    assert waits == [0.05, 0.1]
