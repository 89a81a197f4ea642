"""`clerk-sync changes republish` on both engines, against a stack found the default way (a running
`clerk-sync dev`'s dev.json in the state folder).

A batch fails for real: the real ChangesFunction, in a process of its own, configured with a bus that
does not exist, is handed the batch by the local stream mapping (no retries, no bisecting), which sends
its on-failure record to ChangesFailedQueue. The changes before and after it go out through the function
configured with the right bus. Then `republish` publishes exactly the records of that range, each once,
and deletes the message, and a second run has nothing to do. A bus that still refuses keeps the message
(exit 1). So does a range the stream no longer has (trimmed, or an unknown shard), a record nobody can
read, and a message that is not an on-failure record; `--dry-run` changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clerk_sync.domain.complete import compress
from clerk_sync_local.cli.main import main
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.process_function import ProcessFunction
from clerk_sync_local.stack.provision import TABLE_ENV_VARS, Provisioned
from clerk_sync_local.stack.state import ConnectionInfo
from clerk_sync_local.stack.stream_worker import StreamBatchResult, StreamWorker
from clerk_sync_local.stack.stream_worker import stream_event_source_mappings as mappings_of
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from stacks import changes_function_environment

HANDLER = "clerk_sync.handlers.changes.handler"
PATIENCE = 60.0  # seconds without a batch handed over: a cold start of the function on a busy machine
NO_BUS = "no-such-bus"
UNKNOWN_SHARD = "shardId-00000001700000000000-0badf00d"


@pytest.fixture
def feed(backend: Any, request: pytest.FixtureRequest) -> Provisioned:
    return backend.fresh(request.node.name, feed=True)


class Switch:
    """The function the mapping invokes: the one configured right, or the one whose bus does not exist."""

    logical_id = "ChangesFunction"

    def __init__(self, right: ProcessFunction, wrong: ProcessFunction) -> None:
        self.right, self.wrong = right, wrong
        self.current = right

    def invoke(self, event: dict[str, Any]) -> Invocation:
        return self.current.invoke(event)


@pytest.fixture
def functions(backend: Any, feed: Provisioned, tmp_path: Path) -> Iterator[Switch]:
    assert feed.changes is not None
    right = ProcessFunction(
        "ChangesFunction", HANDLER, changes_function_environment(backend, feed, feed.changes.bus_name), 60.0,
        tmp_path / "ChangesFunction.log",
    )  # fmt: skip
    # Its publisher resends the refused events for all but a tenth of its 3 s, then reports the batch
    wrong = ProcessFunction(
        "ChangesFunction", HANDLER, changes_function_environment(backend, feed, NO_BUS), 3.0,
        tmp_path / "ChangesFunction-wrong-bus.log",
    )  # fmt: skip
    yield Switch(right, wrong)
    right.stop()
    wrong.stop()


def users_worker(backend: Any, feed: Provisioned, function: Switch) -> StreamWorker:
    """The template's mapping of the users table's stream, without its batching window, retries and
    bisecting: a batch the function fails goes to ChangesFailedQueue whole, at once."""
    assert feed.changes is not None
    template = load_template(TEMPLATE_PATH)
    spec = function_specs(template, TEMPLATE_PATH.parent)["ChangesFunction"]
    refs = {**feed.tables, "ChangesFailedQueue": feed.changes.failed_queue_url}
    [users] = [
        m
        for m in mappings_of(spec, LocalResources(template, {}, refs, feed.attributes))
        if m.event_id == "Users"
    ]
    mapping = dataclasses.replace(users, window_seconds=0, max_retries=0, bisect=False)
    return StreamWorker(
        backend.streams(), mapping, function, backend.region, backend.sqs(), feed.changes.failed_queue_url,
        retry_pause=0.01,
    )  # fmt: skip


def until(worker: StreamWorker, done: Any) -> list[StreamBatchResult]:
    """Poll until `done(results)`."""
    results: list[StreamBatchResult] = []
    moved = time.monotonic()
    while not done(results):
        result = worker.poll()
        if result is not None:
            results.append(result)
            moved = time.monotonic()
        assert time.monotonic() - moved < PATIENCE, f"stuck after {results}"
    return results


def user_item(user_id: str, version: int | None) -> dict[str, Any]:
    """A users item as the receiver stores it (without a version: what no writer of clerk-sync makes)."""
    item: dict[str, Any] = {
        "id": {"S": user_id},
        "first_name": {"S": "Annabel"},
        "email": {"S": f"{user_id}@example.com"},
        "svix_id": {"S": f"msg_{user_id}"},
        "clerk": {"B": compress({"object": "user", "id": user_id})},
    }
    if version is not None:
        item["version"] = {"N": str(version)}
    return item


def publish_dev_state(folder: Path, backend: Any, feed: Provisioned, bus: str | None = None) -> None:
    """The dev.json a `clerk-sync dev` over `feed` publishes (its process: this one)."""
    assert feed.changes is not None
    ConnectionInfo(
        url="http://127.0.0.1:9/webhooks/clerk",
        secret="whsec_plJ3nmyCDGBKInavdOK15jsl",
        region=backend.region,
        aws_endpoint=backend.sqs_endpoint,
        dynamodb_endpoint=backend.dynamodb_endpoint,
        tables={variable: feed.tables[logical_id] for logical_id, variable in TABLE_ENV_VARS.items()},
        queue_url=feed.queue_url,
        dead_letter_queue_url=feed.dead_letter_queue_url,
        pid=os.getpid(),
        changes_bus=bus or feed.changes.bus_name,
        changes_log_group=feed.changes.log_group,
        changes_failed_queue_url=feed.changes.failed_queue_url,
        change_detail="full",
    ).save(folder)


def republish(folder: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["changes", "republish", "--state-dir", str(folder), *args])
    out, err = capsys.readouterr()
    assert err == "" and "Traceback" not in out
    return code, out.splitlines()


def kept_events(backend: Any, feed: Provisioned) -> list[dict[str, Any]]:
    """What the bus received, as its catch-all rule kept it."""
    assert feed.changes is not None
    found = backend.logs().filter_log_events(logGroupName=feed.changes.log_group)["events"]
    return [json.loads(event["message"]) for event in found]


def waiting(backend: Any, feed: Provisioned) -> int:
    """Messages on ChangesFailedQueue (visible or not)."""
    assert feed.changes is not None
    attributes = backend.sqs().get_queue_attributes(
        QueueUrl=feed.changes.failed_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def visible(backend: Any, feed: Provisioned) -> int:
    assert feed.changes is not None
    attributes = backend.sqs().get_queue_attributes(
        QueueUrl=feed.changes.failed_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_batch_the_bus_refused_is_republished_once_from_the_stream(
    backend, feed, functions, tmp_path, capsys
):
    assert feed.changes is not None
    table = feed.tables["UsersTable"]
    dynamodb = backend.dynamodb()
    worker = users_worker(backend, feed, functions)
    dynamodb.put_item(TableName=table, Item=user_item("user_first", 1732000000100))
    until(worker, lambda results: sum(r.done for r in results) == 1)

    functions.current = functions.wrong  # the bus it names does not exist
    for user_id in ("user_lost_1", "user_lost_2", "user_lost_3"):
        dynamodb.put_item(TableName=table, Item=user_item(user_id, 1732000000200))
    skipped = until(worker, lambda results: sum(r.skipped for r in results) == 3)
    assert [r.outcome for r in skipped] == ["skipped"] and skipped[0].received == 3

    functions.current = functions.right
    dynamodb.put_item(TableName=table, Item=user_item("user_last", 1732000000300))
    until(worker, lambda results: sum(r.done for r in results) == 1)
    published = [event["detail"]["key"]["id"] for event in kept_events(backend, feed)]
    assert published == ["user_first", "user_last"]
    assert waiting(backend, feed) == 1

    state = tmp_path / "state"
    publish_dev_state(state, backend, feed)
    code, lines = republish(state, capsys, "--dry-run")
    assert code == 0, lines
    assert "  users  " in lines[1] and lines[1].endswith(
        "3 records (user.created ×3): would publish 3 events and delete the message"
    ), lines
    assert lines[-1] == "1 message: 1 would be re-published and deleted, 0 kept"
    assert visible(backend, feed) == 1 and len(kept_events(backend, feed)) == 2  # nothing changed

    publish_dev_state(state, backend, feed, bus=NO_BUS)  # the bus still refuses
    code, lines = republish(state, capsys, "--retry-for", "0.5")
    assert code == 1
    assert "not published, the bus refused 3 of 3 events (ResourceNotFoundException)" in lines[1], lines
    assert "message kept" in lines[1] and lines[-1] == "1 message: 0 re-published and deleted, 1 kept"
    assert visible(backend, feed) == 1 and len(kept_events(backend, feed)) == 2

    publish_dev_state(state, backend, feed)
    code, lines = republish(state, capsys)
    assert code == 0, lines
    assert lines[1].endswith("3 records (user.created ×3): published 3 events, message deleted"), lines
    assert lines[-1] == "1 message: 1 re-published and deleted, 0 kept"
    events = kept_events(backend, feed)
    assert Counter(event["detail"]["key"]["id"] for event in events) == Counter(
        ["user_first", "user_last", "user_lost_1", "user_lost_2", "user_lost_3"]
    )
    republished = [event for event in events if event["detail"]["key"]["id"].startswith("user_lost_")]
    assert {(e["detail-type"], e["detail"]["version"]) for e in republished} == {
        ("user.created", 1732000000200)
    }
    assert republished[0]["detail"]["new"]["clerk"] == {"object": "user", "id": "user_lost_1"}
    assert waiting(backend, feed) == 0
    output = "\n".join(lines)
    assert "Annabel" not in output and "@example.com" not in output  # no personal data

    code, lines = republish(state, capsys)
    assert (code, lines[1:]) == (0, ["no messages: nothing to re-publish"])

    # The ids are the function's: the record it published first, re-published, has the same event id
    before = next(e for e in events if e["detail"]["key"]["id"] == "user_first")
    [first] = stream_records(backend, feed)[:1]
    send(backend, feed, on_failure_record(feed, first, first))
    assert republish(state, capsys)[0] == 0
    again = [e for e in kept_events(backend, feed) if e["detail"]["key"]["id"] == "user_first"]
    assert len(again) == 2 and again[1]["detail"] == before["detail"]


def stream_records(backend: Any, feed: Provisioned) -> list[dict[str, Any]]:
    """Every record of the users table's stream, as GetRecords returns them."""
    streams = backend.streams()
    arn = feed.streams["UsersTable"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [
        dict(record, shardId=shard["ShardId"])
        for record in streams.get_records(ShardIterator=iterator)["Records"]
    ]


def on_failure_record(
    feed: Provisioned,
    first: dict[str, Any],
    last: dict[str, Any],
    shard: str | None = None,
    start: str | None = None,
    arrived: str = "2026-12-08T00:00:00Z",
) -> dict[str, Any]:
    """What Lambda sends ChangesFailedQueue for a skipped batch from `first` through `last`."""
    return {
        "requestContext": {
            "requestId": "316aa6d0-8154-4e1b-8b4c-4bd5ed7e7b1e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:clerk-sync-ChangesFunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 101,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-12-08T00:05:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard or first["shardId"],
            "startSequenceNumber": start or first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": arrived,
            "approximateArrivalOfLastRecord": arrived,
            "batchSize": 1,
            "streamArn": feed.streams["UsersTable"],
        },
    }


def send(backend: Any, feed: Provisioned, body: Any) -> None:
    assert feed.changes is not None
    text = body if isinstance(body, str) else json.dumps(body)
    backend.sqs().send_message(QueueUrl=feed.changes.failed_queue_url, MessageBody=text)


def test_what_cannot_be_republished_is_reported_and_kept(backend, feed, tmp_path, capsys):
    assert feed.changes is not None
    dynamodb = backend.dynamodb()
    # A write elsewhere first: on DynamoDB Local, whose sequence numbers count every table's writes, the
    # users shard then starts before its first record, and the position just before it is trimmed
    dynamodb.put_item(
        TableName=feed.tables["RolesTable"], Item={"id": {"S": "role_1"}, "version": {"N": "1"}}
    )
    table = feed.tables["UsersTable"]
    dynamodb.put_item(TableName=table, Item=user_item("user_ok", 1732000000100))
    dynamodb.put_item(TableName=table, Item=user_item("user_unreadable", None))
    ok, unreadable = stream_records(backend, feed)
    sequence = ok["dynamodb"]["SequenceNumber"]
    trimmed = str(int(sequence) - 1).zfill(len(sequence))
    send(backend, feed, on_failure_record(feed, ok, ok))
    send(backend, feed, on_failure_record(feed, ok, ok, start=trimmed, arrived="2026-12-05T09:30:00Z"))
    send(backend, feed, on_failure_record(feed, ok, ok, shard=UNKNOWN_SHARD))
    send(backend, feed, on_failure_record(feed, unreadable, unreadable))
    send(backend, feed, "RetryAttemptsExhausted")
    send(backend, feed, {"requestContext": {"condition": "RetryAttemptsExhausted"}, "KinesisBatchInfo": {}})
    state = tmp_path / "state"
    publish_dev_state(state, backend, feed)

    code, lines = republish(state, capsys, "--dry-run")
    assert code == 1 and lines[-2] == "6 messages: 1 would be re-published and deleted, 5 kept", lines
    assert visible(backend, feed) == 6 and kept_events(backend, feed) == []

    code, lines = republish(state, capsys)
    assert code == 1 and len(lines) == 9, lines  # a heading, 6 messages, the summary and the way out
    shard, unread = ok["shardId"], unreadable["dynamodb"]["SequenceNumber"]

    def line(fragment: str) -> str:
        [found] = [line for line in lines[1:7] if fragment in line]
        return found.split("  ", 1)[1]  # after the message id

    assert line(f"{shard}  {sequence}..{sequence}") == (
        f"users  {shard}  {sequence}..{sequence}  1 record (user.created): published 1 event, message deleted"
    )
    assert line(f"{trimmed}..").startswith(
        f"users  {shard}  {trimmed}..{sequence}  records gone from the stream (TrimmedDataAccessException: "
        "The operation attempted to read past the oldest stream record in a shard.; first record written "
        "2026-12-05 09:30 UTC, "
    )
    assert line(f"{trimmed}..").endswith(" h ago, past the stream's 24 hours): message kept")
    assert line(UNKNOWN_SHARD).startswith(
        f"users  {UNKNOWN_SHARD}  {sequence}..{sequence}  records gone from the stream "
        "(ResourceNotFoundException: Shard does not exist; first record written 2026-12-08 00:00 UTC, "
    )
    assert line(f"{unread}..") == (
        f"users  {shard}  {unread}..{unread}  1 record (unreadable): record {unread} cannot be read "
        "(UnreadableImageError: a stream image without a version), by ChangesFunction either: nothing "
        "published, message kept; fix what it cannot read, then run again"
    )
    assert line("(not JSON)") == "not a stream on-failure record (not JSON): message kept"
    assert line("Kinesis") == (
        "not a stream on-failure record (KinesisBatchInfo, not DDBStreamBatchInfo): message kept"
    )
    assert lines[-2] == "6 messages: 1 re-published and deleted, 5 kept"
    assert lines[-1].startswith("The changes of a message whose records are gone cannot be re-published")
    assert "`clerk-sync backfill` does not help" in lines[-1]
    assert [event["detail"]["key"]["id"] for event in kept_events(backend, feed)] == ["user_ok"]
    assert visible(backend, feed) == 5  # the kept ones are visible again at once

    code, lines = republish(state, capsys)
    assert code == 1 and lines[-2] == "5 messages: 0 re-published and deleted, 5 kept"
    assert len(kept_events(backend, feed)) == 1


def test_without_a_running_dev_the_environment_names_the_engines_queue_and_bus(
    backend, feed, tmp_path, capsys, monkeypatch
):
    """The local endpoints as `clerk-sync env` exports them, the queue and the bus by their variables."""
    assert feed.changes is not None
    dynamodb = backend.dynamodb()
    dynamodb.put_item(TableName=feed.tables["UsersTable"], Item=user_item("user_env", 1732000000100))
    [record] = stream_records(backend, feed)
    send(backend, feed, on_failure_record(feed, record, record))
    for variable, name in feed.environment().items():
        monkeypatch.setenv(variable, name)  # the tables' names, and CHANGES_BUS_NAME
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", backend.dynamodb_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", backend.sqs_endpoint)
    monkeypatch.delenv("CHANGE_DETAIL", raising=False)  # locally: the template's default, full
    state = tmp_path / "no-dev"

    code = main(["changes", "republish", "--state-dir", str(state)])
    assert code == 2 and "pass --queue-url or set CHANGES_FAILED_QUEUE_URL" in capsys.readouterr().err

    monkeypatch.setenv("CHANGES_FAILED_QUEUE_URL", feed.changes.failed_queue_url)
    code, lines = republish(state, capsys)
    assert code == 0, lines
    assert "(CHANGE_DETAIL full; from the environment)" in lines[0]
    assert lines[1].endswith("1 record (user.created): published 1 event, message deleted")
    [event] = kept_events(backend, feed)
    assert event["detail"]["key"] == {"id": "user_env"} and event["detail"]["new"]["first_name"] == "Annabel"
