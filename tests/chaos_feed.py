"""The change feed under chaos: the real publisher behind the local stream mappings of all 13 tables,
running while a chaos history is delivered, with faults of its own.

Faults: the publisher dies mid-batch (it published part of the batch, then the runtime died: the
mapping retries or bisects the batch), PutEvents refuses some entries (`FailedEntryCount`), and the bus
refuses every call for a while, again and again. At the end the streams are read again, independently:
each state a record held (a version, live or a tombstone) is the ground truth the events are held to.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from bus_faults import BusFaults
from clerk_sync.bootstrap.changes import build_publisher
from clerk_sync.domain.changes import SOURCE, record_of
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.settings import load_changes_config
from clerk_sync_local.stack.functions import LocalResources, function_specs
from clerk_sync_local.stack.pool import ContainerPool
from clerk_sync_local.stack.provision import Provisioned
from clerk_sync_local.stack.stream_worker import StreamWorker, stream_event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from faults import Crash
from stacks import Stack

PUBLISHERS = 4  # concurrent ChangesFunction containers (one invocation per shard at a time)
CRASH = 0.05  # chance a batch's invocation dies after publishing half of it
ENTRY_REFUSAL = 0.05  # chance PutEvents refuses an entry
OUTAGE_EVERY, OUTAGE_SECONDS = 3.0, 0.4  # the bus refuses every call for a while, now and then
RETRY_PAUSE = 0.05  # s between a failed batch and its retry (Lambda's own backoff, compressed)

State = tuple[str, str, int, bool]  # table, key (JSON), version, tombstone
_deserialize = TypeDeserializer().deserialize


def _key(table: Table, image: dict[str, Any]) -> str:
    return json.dumps({name: image[name] for name in TABLES[table].key_names}, sort_keys=True)


@dataclass
class FeedChaos:
    """The feed's side of a chaos run: start it before the deliveries, `settle` and `check` after."""

    stack: Stack
    provisioned: Provisioned
    seed: int
    bus_faults: BusFaults = field(init=False)
    crashes: int = 0
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _workers: list[StreamWorker] = field(default_factory=list)
    _queue_url: str = ""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed ^ 0x5EED)
        self.bus_faults = BusFaults(self.seed, entry_refusal=ENTRY_REFUSAL)

    @property
    def feed(self) -> Any:
        assert self.provisioned.changes is not None, "provision the stack with the feed on"
        return self.provisioned.changes

    def start(self) -> None:
        """A queue keeping every event (a rule of its own on the bus), the stream workers, the outages."""
        sqs, events = self.stack.sqs, self._events()
        self._queue_url = sqs.create_queue(QueueName=f"{self.feed.bus_name[:60]}-kept")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"]
        pattern = json.dumps({"source": [SOURCE]})
        events.put_rule(Name="chaos-kept", EventBusName=self.feed.bus_name, EventPattern=pattern)
        target = {"Id": "kept", "Arn": arn["QueueArn"]}
        events.put_targets(Rule="chaos-kept", EventBusName=self.feed.bus_name, Targets=[target])
        pool = ContainerPool("ChangesFunction", [self._container() for _ in range(PUBLISHERS)], 60.0)
        template = load_template()
        spec = function_specs(template, TEMPLATE_PATH.parent)["ChangesFunction"]
        refs = {**self.provisioned.tables, "ChangesFailedQueue": self.feed.failed_queue_url}
        local = LocalResources(template, {}, refs, self.provisioned.attributes)
        region = self.stack.endpoints.region or "us-east-1"
        streams = _client(self.stack, "dynamodbstreams", self.stack.endpoints.dynamodb)
        for mapping in stream_event_source_mappings(spec, local):
            worker = StreamWorker(
                streams, mapping, pool, region, self.stack.sqs, self.feed.failed_queue_url,
                retry_pause=RETRY_PAUSE, idle_seconds=0.2,
            )  # fmt: skip
            self._workers.append(worker)
            self._threads.append(threading.Thread(target=worker.run, args=(self._stop, _quiet), daemon=True))
        self._threads.append(threading.Thread(target=self._outages, daemon=True))
        for thread in self._threads:
            thread.start()

    def _container(self) -> Any:
        environ = {
            "CHANGES_BUS_NAME": self.feed.bus_name,
            "CHANGE_DETAIL": "full",
            **{spec.variable: self.stack.tables[spec.template_id] for spec in TABLES.values()},
        }
        endpoints = dataclasses.replace(self.stack.endpoints, events=self.stack.endpoints.sqs)  # moto's
        publisher = build_publisher(load_changes_config(environ), endpoints, self.bus_faults.hooks())

        def invoke(event: dict[str, Any], context: Any) -> Any:
            records = event.get("Records") or []
            with self._lock:
                crash = len(records) > 1 and self._random.random() < CRASH
            if crash:  # half of the batch went out, then the runtime died
                publisher.publish(records[: len(records) // 2], context)
                with self._lock:
                    self.crashes += 1
                raise Crash("publisher died mid-batch")
            return publisher.handle(event, context)

        return invoke

    def _outages(self) -> None:
        while not self._stop.wait(OUTAGE_EVERY):
            self.bus_faults.down.set()
            self._stop.wait(OUTAGE_SECONDS)
            self.bus_faults.down.clear()

    def held(self) -> tuple[set[State], dict[tuple[str, str], list[State]]]:
        """Every state the tables held, read from their streams (independently of the publisher), and
        each key's states in the order they were written."""
        streams = _client(self.stack, "dynamodbstreams", self.stack.endpoints.dynamodb)
        states: set[State] = set()
        by_key: dict[tuple[str, str], list[State]] = defaultdict(list)
        for logical_id, arn in self.provisioned.streams.items():
            table = next(spec.table for spec in TABLES.values() if spec.template_id == logical_id)
            for record in _read_stream(streams, arn):
                images = record["dynamodb"]
                new = {k: _deserialize(v) for k, v in (images.get("NewImage") or {}).items()}
                old = {k: _deserialize(v) for k, v in (images.get("OldImage") or {}).items()}
                if not new:
                    continue
                state = (table.value, _key(table, new), int(new["version"]), bool(new.get("deleted")))
                before = (int(old["version"]), bool(old.get("deleted"))) if old else None
                if before != state[2:]:
                    states.add(state)
                    by_key[(table.value, state[1])].append(state)
        return states, by_key

    def settle(self, expected: int, seconds: float) -> list[dict[str, Any]]:
        """Collect the bus's events until `expected` distinct ids arrived and the workers went quiet
        (or `seconds` passed), then stop the workers."""
        kept: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                got = self.stack.sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                for message in got:
                    kept.append(json.loads(message["Body"]))
                    self.stack.sqs.delete_message(
                        QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                if not got and len({e["detail"]["id"] for e in kept}) >= expected:
                    return kept
            return kept
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=10)

    def check(self, context: str, seconds_per_state: float = 0.05) -> dict[str, int]:
        """The feed's guarantees over what the tables held; a summary of what was published."""
        states, by_key = self.held()
        events = self.settle(len(states), 60 + seconds_per_state * len(states))
        failed = self.stack.sqs.get_queue_attributes(
            QueueUrl=self.feed.failed_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert failed == "0", f"{failed} batches on ChangesFailedQueue ({context})"
        by_id: dict[str, dict[str, Any]] = {}
        for event in events:
            detail = event["detail"]
            first = by_id.setdefault(detail["id"], detail)
            assert first == detail, f"two events with the id {detail['id']} differ ({context})"
        published = {
            (d["table"], json.dumps(d["key"], sort_keys=True), d["version"], d["change"] == "deleted")
            for d in by_id.values()
        }
        assert len(published) == len(by_id), f"two ids for one state ({context})"
        missing, extra = states - published, published - states
        assert not missing and not extra, (
            f"{len(missing)} states never published {sorted(missing)[:3]}, "
            f"{len(extra)} events of no state {sorted(extra)[:3]} ({context})"
        )
        event_of = {
            (d["table"], json.dumps(d["key"], sort_keys=True), d["version"], d["change"] == "deleted"): d
            for d in by_id.values()
        }
        finals = self._final_items()
        for (table, key), sequence in by_key.items():
            previous: int | None = None
            for state in sequence:
                detail = event_of[state]
                assert detail["previous_version"] == previous, (
                    f"{table} {key}: version {state[2]} names {detail['previous_version']} before it, "
                    f"the table held {previous} ({context})"
                )
                assert previous is None or state[2] >= previous, (
                    f"{table} {key}: version went down ({context})"
                )
                previous = state[2]
            last, final = event_of[sequence[-1]], finals[(table, key)]
            if final.get("deleted"):
                assert last["change"] == "deleted", (
                    f"{table} {key}: last event {last['change']}, the table's states {sequence}, "
                    f"final { ({k: v for k, v in final.items() if k != 'clerk'}) } ({context})"
                )
            else:
                assert last["change"] != "deleted" and last["new"] == record_of(final), (
                    f"{table} {key}: the last event is not the final record ({context})"
                )
        return {
            "states": len(states),
            "events": len(events),
            "duplicates": len(events) - len(by_id),
            "crashes": self.crashes,
            "refused_entries": self.bus_faults.refused_entries,
            "refused_calls": self.bus_faults.refused_calls,
        }

    def _final_items(self) -> dict[tuple[str, str], dict[str, Any]]:
        finals = {}
        for spec in TABLES.values():
            for item in self.stack.items(spec.template_id):
                finals[(spec.table.value, _key(spec.table, item))] = item
        return finals

    def _events(self) -> Any:
        return _client(self.stack, "events", self.stack.endpoints.sqs)


def _client(stack: Stack, service: str, endpoint: str | None) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=stack.endpoints.region or "us-east-1")


def _read_stream(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of a stream, shard by shard, parents first (as GetRecords returns them)."""
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not answer["Records"]:
                break
            records += answer["Records"]
            iterator = answer.get("NextShardIterator")
    return records


def _quiet(line: str) -> None:
    """The stream workers' batch lines: not printed in a chaos run."""
