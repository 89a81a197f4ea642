"""The real ChangesFunction behind the local stream mapping, on both engines: the handler in a process of
its own (its configuration read at import, as in a Lambda container), fed Lambda-shaped batches from the
users table's stream, publishing to moto's bus. A record it cannot read (an item without a version) is
retried, isolated by bisecting, and skipped to the on-failure queue alone; the changes around it are
published, in order, each once."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clerk_sync.domain.complete import compress
from clerk_sync_local.stack.functions import LocalResources, function_specs
from clerk_sync_local.stack.process_function import ProcessFunction
from clerk_sync_local.stack.provision import Provisioned
from clerk_sync_local.stack.stream_worker import RETRIES_EXHAUSTED, StreamBatchResult, StreamWorker
from clerk_sync_local.stack.stream_worker import stream_event_source_mappings as mappings_of
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from stacks import changes_function_environment

HANDLER = "clerk_sync.handlers.changes.handler"
PATIENCE = 60.0  # seconds without a batch handed over: a cold start of the function on a busy machine


@pytest.fixture
def feed(backend: Any, request: pytest.FixtureRequest) -> Provisioned:
    return backend.fresh(request.node.name, feed=True)


@pytest.fixture
def changes_function(backend: Any, feed: Provisioned, tmp_path: Path) -> Iterator[ProcessFunction]:
    """ChangesFunction in its own process, with the environment the template gives it over `feed`."""
    environ = changes_function_environment(backend, feed)
    function = ProcessFunction("ChangesFunction", HANDLER, environ, 60.0, tmp_path / "ChangesFunction.log")
    yield function
    function.stop()


def user_item(user_id: str, version: int | None) -> dict[str, Any]:
    """A users item as the receiver stores it (without a version: what no writer of clerk-sync makes)."""
    item: dict[str, Any] = {
        "id": {"S": user_id},
        "first_name": {"S": "Ann"},
        "svix_id": {"S": f"msg_{user_id}"},
        "clerk": {"B": compress({"object": "user", "id": user_id})},
    }
    if version is not None:
        item["version"] = {"N": str(version)}
    return item


def test_a_record_the_function_cannot_read_ends_alone_on_the_failure_queue(backend, feed, changes_function):
    assert feed.changes is not None
    table = feed.tables["UsersTable"]
    for user_id, version in (("user_a", 1732000000100), ("user_bad", None), ("user_b", 1732000000200)):
        backend.dynamodb().put_item(TableName=table, Item=user_item(user_id, version))
    template = load_template(TEMPLATE_PATH)
    spec = function_specs(template, TEMPLATE_PATH.parent)["ChangesFunction"]
    refs = {**feed.tables, "ChangesFailedQueue": feed.changes.failed_queue_url}
    [users] = [
        m
        for m in mappings_of(spec, LocalResources(template, {}, refs, feed.attributes))
        if m.event_id == "Users"
    ]
    mapping = dataclasses.replace(users, window_seconds=0, max_retries=2)  # the template's: 100 retries
    worker = StreamWorker(
        backend.streams(), mapping, changes_function, backend.region, backend.sqs(),
        feed.changes.failed_queue_url, retry_pause=0.01,
    )  # fmt: skip

    results: list[StreamBatchResult] = []
    moved = time.monotonic()
    while not (results and results[-1].outcome == "done" and results[-1].received == 1 and len(results) > 1):
        result = worker.poll()
        if result is not None:
            results.append(result)
            moved = time.monotonic()
        assert time.monotonic() - moved < PATIENCE, f"stuck after {results}"
        assert all(r.invocation is None or r.invocation.error is None for r in results), results[-1]

    # [a, bad, b]: a published, the batch resumes from bad; [bad, b] fails at its first record: split;
    # bad alone, retried twice, skipped; then b
    assert [(r.outcome, r.received, r.done) for r in results] == [
        ("retry", 3, 1), ("split", 2, 0), ("retry", 1, 0), ("retry", 1, 0), ("skipped", 1, 0), ("done", 1, 1),
    ]  # fmt: skip
    kept = backend.logs().filter_log_events(logGroupName=feed.changes.log_group)["events"]
    events = [json.loads(event["message"]) for event in kept]
    assert [(e["detail-type"], e["detail"]["key"]["id"]) for e in events] == [
        ("user.created", "user_a"),
        ("user.created", "user_b"),
    ]
    assert events[0]["detail"]["new"]["clerk"] == {"object": "user", "id": "user_a"}
    answer = backend.sqs().receive_message(QueueUrl=feed.changes.failed_queue_url, WaitTimeSeconds=1)
    [message] = answer["Messages"]
    sent = json.loads(message["Body"])
    info = sent["DDBStreamBatchInfo"]
    assert sent["requestContext"]["condition"] == RETRIES_EXHAUSTED and info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert changes_function.starts == 1  # one warm container throughout
