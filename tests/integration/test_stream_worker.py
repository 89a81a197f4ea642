"""`clerk-sync dev`'s DynamoDB stream event source mapping (stack/stream_worker.py) on both engines: a
table's stream read over the wire, a stand-in function answering as the test says, what Lambda would do
with each answer (order, partial failures, retries, bisecting, the on-failure queue), and shards followed
from parent to child (an in-memory stream: neither engine ever closes a shard)."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.provision import Provisioned
from clerk_sync_local.stack.stream_worker import (
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    StreamBatchResult,
    StreamEventSourceMapping,
    StreamWorker,
    stream_event_source_mappings,
)
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

TEMPLATE = load_template()
PAUSE = 0.01  # between retries (the template's mapping retries after RETRY_PAUSE_SECONDS)
PATIENCE = 30.0  # seconds a worker may hand nothing over while a test still waits for something
Answer = Callable[[list[dict[str, Any]]], Any]


@dataclass
class StandIn:
    """An Invoker recording each batch's records; `answer` returns the function's result or raises."""

    answer: Answer = lambda records: {"batchItemFailures": []}
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    logical_id: str = "ChangesFunction"

    def invoke(self, event: dict[str, Any]) -> Invocation:
        records = event["Records"]
        json.dumps(event)  # what Lambda sends is JSON
        self.batches.append(records)
        try:
            return Invocation(result=self.answer(records), error=None, ms=1.0)
        except Exception as error:
            return Invocation(result=None, error=f"{type(error).__name__}: {error}", ms=1.0)

    def ids(self) -> list[list[str]]:
        """Each batch as the ids of its records' keys."""
        return [[record["dynamodb"]["Keys"]["id"]["S"] for record in batch] for batch in self.batches]


def template_mappings(provisioned: Provisioned, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """ChangesFunction's stream mappings as template.yaml configures them, over `provisioned`."""
    assert provisioned.changes is not None
    spec = function_specs(TEMPLATE, TEMPLATE_PATH.parent)["ChangesFunction"]
    refs = {**provisioned.tables, "ChangesFailedQueue": provisioned.changes.failed_queue_url}
    local = LocalResources(TEMPLATE, environ or {}, refs, provisioned.attributes)
    return {mapping.event_id: mapping for mapping in stream_event_source_mappings(spec, local)}


@dataclass
class Rig:
    """A fresh stack with the feed on, and a worker over its users table's stream."""

    backend: Any
    provisioned: Provisioned
    function: StandIn

    @property
    def table(self) -> str:
        return self.provisioned.tables["UsersTable"]

    def worker(self, **changes: Any) -> StreamWorker:
        """A worker with the template's Users mapping, some of its settings changed for the test."""
        mapping = dataclasses.replace(template_mappings(self.provisioned)["Users"], **changes)
        assert self.provisioned.changes is not None
        return StreamWorker(
            self.backend.streams(), mapping, self.function, self.backend.region, self.backend.sqs(),
            self.provisioned.changes.failed_queue_url, retry_pause=PAUSE, idle_seconds=PAUSE,
        )  # fmt: skip

    def put(self, *ids: str, **attributes: Any) -> None:
        for user_id in ids:
            item = {"id": {"S": user_id}, **attributes}
            self.backend.dynamodb().put_item(TableName=self.table, Item=item)

    def on_failure(self, count: int) -> list[dict[str, Any]]:
        """The on-failure records on ChangesFailedQueue, once `count` are there (they are sent before
        the worker moves on: the deadline only covers a slow engine)."""
        assert self.provisioned.changes is not None
        sqs, url = self.backend.sqs(), self.provisioned.changes.failed_queue_url
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + PATIENCE
        while len(found) < count and time.monotonic() < deadline:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            found += [json.loads(message["Body"]) for message in answer.get("Messages", [])]
        return found


@pytest.fixture
def rig(backend: Any, request: pytest.FixtureRequest) -> Rig:
    return Rig(backend, backend.fresh(request.node.name, feed=True), StandIn())


def drain(worker: StreamWorker, done: Callable[[], bool], results: list[Any] | None = None) -> list[Any]:
    """Poll until `done()`, the results appended to `results`; fails when the worker hands nothing over
    for PATIENCE seconds."""
    results = [] if results is None else results
    moved = time.monotonic()
    while not done():
        result = worker.poll()
        if result is not None:
            results.append(result)
            moved = time.monotonic()
        else:
            assert time.monotonic() - moved < PATIENCE, f"nothing handed over for {PATIENCE:.0f} s: {results}"
            time.sleep(PAUSE)
    return results


def sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


# --- configured from the template ----------------------------------------------------------------


def test_every_synced_table_has_a_mapping_configured_as_the_template_says(backend):
    provisioned = backend.fresh("mappings", feed=True)
    mappings = template_mappings(provisioned)
    assert {m.table_id for m in mappings.values()} == set(provisioned.streams)
    users = mappings["Users"]
    assert users == StreamEventSourceMapping(
        function_id="ChangesFunction",
        event_id="Users",
        table_id="UsersTable",
        stream_arn=provisioned.streams["UsersTable"],
        starting_position="TRIM_HORIZON",
        batch_size=100,
        window_seconds=0.0,  # a change goes out as soon as it is read
        bisect=True,
        max_retries=100,
        max_record_age=86400,
        report_failures=True,
        on_failure_queue_id="ChangesFailedQueue",
    )
    assert template_mappings(provisioned, {"CHANGE_RETRY_ATTEMPTS": "3"})["Users"].max_retries == 3


# --- Lambda's behaviour, over each engine's stream ---------------------------------------------------


def test_records_arrive_in_order_in_batches_shaped_as_lambda_sends_them(rig: Rig):
    rig.put("u1", "u2", "u3", "u4", "u5")
    rig.put("u1", clerk={"B": b"\x00\x01binary"}, tags={"M": {"set": {"BS": [b"\xff"]}}})  # a MODIFY
    rig.backend.dynamodb().delete_item(TableName=rig.table, Key={"id": {"S": "u2"}})
    worker = rig.worker(batch_size=3, window_seconds=0)

    drain(worker, lambda: sum(map(len, rig.function.batches)) == 7)

    assert rig.function.ids() == [["u1", "u2", "u3"], ["u4", "u5", "u1"], ["u2"]]
    records = [record for batch in rig.function.batches for record in batch]
    numbers = [int(sequence(record)) for record in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 7
    assert [r["eventName"] for r in records] == ["INSERT"] * 5 + ["MODIFY", "REMOVE"]
    first, modify, remove = records[0], records[5], records[6]
    assert set(first) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                          "eventSourceARN"}  # fmt: skip
    assert (first["eventVersion"], first["eventSource"], first["awsRegion"]) == (
        "1.1",
        "aws:dynamodb",
        "us-east-1",
    )
    assert first["eventSourceARN"] == rig.provisioned.streams["UsersTable"]
    body = first["dynamodb"]
    assert body["Keys"] == {"id": {"S": "u1"}} and body["NewImage"] == {"id": {"S": "u1"}}
    assert body["StreamViewType"] == "NEW_AND_OLD_IMAGES" and isinstance(body["SizeBytes"], int)
    assert isinstance(body["ApproximateCreationDateTime"], int)
    assert abs(body["ApproximateCreationDateTime"] - time.time()) < 600
    assert modify["dynamodb"]["OldImage"] == {"id": {"S": "u1"}}
    assert modify["dynamodb"]["NewImage"]["clerk"] == {"B": base64.b64encode(b"\x00\x01binary").decode()}
    assert modify["dynamodb"]["NewImage"]["tags"] == {
        "M": {"set": {"BS": [base64.b64encode(b"\xff").decode()]}}
    }
    assert "NewImage" not in remove["dynamodb"] and remove["dynamodb"]["OldImage"] == {"id": {"S": "u2"}}

    # later writes come in later batches: the worker keeps its place in the shard
    rig.put("u6")
    drain(worker, lambda: len(rig.function.batches) == 4)
    assert rig.function.ids()[3] == ["u6"] and int(sequence(rig.function.batches[3][0])) > numbers[-1]


def test_the_batching_window_gathers_records_written_apart(rig: Rig):
    worker = rig.worker(batch_size=10, window_seconds=1.0)
    rig.put("w1")
    started = time.monotonic()
    assert worker.poll() is None  # one record, the window still open
    rig.put("w2")
    drain(worker, lambda: len(rig.function.batches) == 1)
    assert rig.function.ids() == [["w1", "w2"]] and time.monotonic() - started >= 1.0


def test_a_reported_record_is_handed_over_again_with_the_records_after_it(rig: Rig):
    rig.put("a", "b", "c", "d")
    calls = 0

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        failed = [sequence(records[2]), sequence(records[3])] if calls == 1 else []  # the lowest counts
        return {"batchItemFailures": [{"itemIdentifier": number} for number in reversed(failed)]}

    rig.function.answer = answer
    worker = rig.worker(batch_size=4, window_seconds=0)
    results = drain(worker, lambda: len(rig.function.batches) == 2)

    assert rig.function.ids() == [["a", "b", "c", "d"], ["c", "d"]]
    assert [(r.outcome, r.done, r.retry) for r in results] == [("retry", 2, 0), ("done", 2, 1)]
    assert "4 records (INSERT ×4): 2 done, retried from record 3" in worker.describe(results[0])
    assert rig.on_failure(0) == []


@pytest.mark.parametrize(
    "failure",
    [
        "raise",
        "unknown identifier",
        "empty identifier",
        "first record",
    ],
)
def test_a_batch_that_made_no_progress_is_retried_whole(rig: Rig, failure: str):
    rig.put("a", "b", "c")
    calls = 0

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            return {"batchItemFailures": []}
        if failure == "raise":
            raise RuntimeError("bus unreachable")
        named = {"unknown identifier": "999", "empty identifier": "", "first record": sequence(records[0])}
        return {"batchItemFailures": [{"itemIdentifier": named[failure]}]}

    rig.function.answer = answer
    worker = rig.worker(batch_size=3, window_seconds=0, bisect=False)
    results = drain(worker, lambda: len(rig.function.batches) == 2)

    assert rig.function.ids() == [["a", "b", "c"], ["a", "b", "c"]]
    assert [r.outcome for r in results] == ["retry", "done"]
    if failure == "raise":
        assert "(RuntimeError: bus unreachable; see ChangesFunction.log)" in worker.describe(results[0])


def test_bisecting_isolates_a_poison_record_and_only_it_goes_to_the_on_failure_queue(rig: Rig):
    rig.put(*[f"p{n}" for n in range(8)])

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if any(record["dynamodb"]["Keys"]["id"]["S"] == "p5" for record in records):
            raise ValueError("unreadable")
        return {"batchItemFailures": []}

    rig.function.answer = answer
    worker = rig.worker(batch_size=8, window_seconds=0, max_retries=2)
    results: list[StreamBatchResult] = []
    drain(
        worker,
        lambda: bool(results) and results[-1].outcome == "done" and "p7" in rig.function.ids()[-1],
        results,
    )

    # halves in order; p5 alone, invoked once and retried twice; everything else done once
    assert rig.function.ids() == [
        [f"p{n}" for n in range(8)],
        ["p0", "p1", "p2", "p3"],
        ["p4", "p5", "p6", "p7"],
        ["p4", "p5"],
        ["p4"],
        ["p5"],
        ["p5"],
        ["p5"],
        ["p6", "p7"],
    ]
    assert [r.outcome for r in results] == [
        "split",
        "done",
        "split",
        "split",
        "done",
        "retry",
        "retry",
        "skipped",
        "done",
    ]
    assert "1 record skipped after 2 retries: on-failure record sent to" in worker.describe(results[7])
    [sent] = rig.on_failure(1)
    poison = rig.function.batches[5][0]
    info = sent["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequence(poison),
        sequence(poison),
        1,
    )
    assert (
        info["streamArn"] == rig.provisioned.streams["UsersTable"] and info["shardId"] == results[7].shard_id
    )
    assert sent["requestContext"]["condition"] == RETRIES_EXHAUSTED
    assert sent["requestContext"]["approximateInvokeCount"] == 3
    assert sent["requestContext"]["functionArn"].endswith(":function:ChangesFunction")
    assert sent["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert sent["version"] == "1.0" and sent["timestamp"].endswith("Z")
    arrival = datetime.strptime(info["approximateArrivalOfFirstRecord"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )
    assert abs(arrival.timestamp() - poison["dynamodb"]["ApproximateCreationDateTime"]) < 1


def test_after_its_retries_a_batch_is_skipped_to_the_on_failure_queue_and_the_shard_moves_on(rig: Rig):
    rig.put("x1", "x2")
    rig.function.answer = lambda records: {"batchItemFailures": [{"itemIdentifier": sequence(records[0])}]}
    worker = rig.worker(batch_size=2, window_seconds=0, max_retries=2, bisect=False)
    results = drain(worker, lambda: len(rig.function.batches) == 3)

    assert rig.function.ids() == [["x1", "x2"]] * 3
    assert [(r.outcome, r.retry, r.skipped) for r in results] == [
        ("retry", 0, 0),
        ("retry", 1, 0),
        ("skipped", 2, 2),
    ]
    [sent] = rig.on_failure(1)
    first, last = rig.function.batches[0]
    info = sent["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequence(first),
        sequence(last),
        2,
    )
    assert sent["requestContext"]["approximateInvokeCount"] == 3
    assert "functionError" not in sent["responseContext"]  # it answered; it did not fail

    rig.function.answer = lambda records: {"batchItemFailures": []}
    rig.put("x3")
    drain(worker, lambda: len(rig.function.batches) == 4)
    assert rig.function.ids()[3] == ["x3"]


def test_records_older_than_the_maximum_age_are_skipped_unseen(rig: Rig):
    rig.put("old1", "old2")
    worker = rig.worker(batch_size=10, window_seconds=0, max_record_age=0)
    results: list[StreamBatchResult] = []
    drain(worker, lambda: bool(results), results)

    assert rig.function.batches == []
    assert [(r.outcome, r.skipped, r.condition) for r in results] == [("skipped", 2, RECORD_AGE_EXCEEDED)]
    [sent] = rig.on_failure(1)
    assert (
        sent["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
        and sent["DDBStreamBatchInfo"]["batchSize"] == 2
    )
    assert "2 records skipped older than 0 s" in worker.describe(results[0])


def test_a_running_worker_stops_within_a_second(rig: Rig):
    rig.put("s1")
    worker = rig.worker(window_seconds=0)
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, lines.append), daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not lines and time.monotonic() < deadline:
        time.sleep(PAUSE)
    assert lines and "stream Users" in lines[0] and "1 record (INSERT): 1 done" in lines[0]
    stop.set()
    thread.join(timeout=1.5)
    assert not thread.is_alive()


# --- shards, parent before child ----------------------------------------------------------------------


class SplitStream:
    """DynamoDB Streams' API over an in-memory stream whose shards close and split, as DynamoDB's do
    (every few hours); listed child first, two shards a page."""

    def __init__(self, shards: list[tuple[str, str | None, list[str], bool]]) -> None:
        self.shards = shards  # (shard id, parent, record ids, closed), in listing order
        self.records: dict[str, list[dict[str, Any]]] = {}
        number = 100
        for shard_id, _, ids, _ in sorted(shards, key=lambda shard: shard[0]):
            self.records[shard_id] = []
            for record_id in ids:
                number += 1
                self.records[shard_id].append(self.record(record_id, number))

    @staticmethod
    def record(record_id: str, number: int) -> dict[str, Any]:
        image = {"id": {"S": record_id}}
        return {
            "eventID": f"e{number}",
            "eventName": "INSERT",
            "dynamodb": {
                "ApproximateCreationDateTime": datetime.now(UTC),
                "Keys": image,
                "NewImage": image,
                "SequenceNumber": str(number),
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None) -> dict[str, Any]:
        ids = [shard[0] for shard in self.shards]
        start = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        page = self.shards[start : start + 2]
        listed = [{"ShardId": s, **({"ParentShardId": p} if p else {})} for s, p, _, _ in page]
        more = {"LastEvaluatedShardId": page[-1][0]} if start + 2 < len(self.shards) else {}
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": listed, **more}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str) -> dict[str, str]:
        assert ShardIteratorType == "TRIM_HORIZON"
        return {"ShardIterator": f"{ShardId}|0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, position = ShardIterator.split("|")
        start = int(position)
        records = self.records[shard_id][start : start + Limit]
        closed = next(shard[3] for shard in self.shards if shard[0] == shard_id)
        end = start + len(records)
        if closed and end == len(self.records[shard_id]):
            return {"Records": records}  # no NextShardIterator: read to its end
        return {"Records": records, "NextShardIterator": f"{shard_id}|{end}"}


def test_shards_are_read_parent_first_and_followed_to_their_children():
    stream = SplitStream(
        [
            ("shard-3", "shard-2", ["f"], False),  # the open shard, listed first
            ("shard-2b", "shard-1", ["e"], True),
            ("shard-2", "shard-1", ["c", "d"], True),
            ("shard-1", None, ["a", "b"], True),
        ]
    )
    mapping = StreamEventSourceMapping("ChangesFunction", "Users", "UsersTable", "arn:stream", batch_size=10)
    function = StandIn()
    worker = StreamWorker(stream, mapping, function, "us-east-1", retry_pause=PAUSE, idle_seconds=PAUSE)
    drain(worker, lambda: sum(map(len, function.batches)) == 6)

    handed = [record_id for batch in function.ids() for record_id in batch]
    assert handed.index("a") < handed.index("b") < handed.index("c") < handed.index("d") < handed.index("f")
    assert handed.index("b") < handed.index("e") and sorted(handed) == ["a", "b", "c", "d", "e", "f"]
    assert all(
        len({stream_of(r, stream) for r in batch}) == 1 for batch in function.ids()
    )  # one shard a batch

    stream.records["shard-3"].append(SplitStream.record("g", 200))  # the open shard keeps being read
    drain(worker, lambda: function.ids()[-1] == ["g"])


def stream_of(record_id: str, stream: SplitStream) -> str:
    """The shard holding a record."""
    return next(
        shard for shard, records in stream.records.items() if any(keys_id(r) == record_id for r in records)
    )


def keys_id(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["id"]["S"])
