"""The change feed from end to end on each engine: every bundled live webhook sample is delivered to the
receiver, the tables' DynamoDB streams are read as Lambda would read them, ChangesFunction's publisher
puts their changes on an EventBridge bus of moto's server, a rule sends every clerk-sync event to an
SQS queue, and `clerk_sync.read.parse` of each message gives the record the read library makes of the
item the table holds (field by field, Clerk's complete object as a mapping)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import boto3
import pytest
from builders import signed
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.bootstrap.changes import build_publisher
from clerk_sync.domain.changes import ChangeDetail
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.read import Change, parse
from clerk_sync.read.changes import RECORDS
from clerk_sync.settings import ChangesConfig, read_tables
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types
from conftest import REGION, Backend
from stacks import Stack, make_stack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def stack(backend: Backend, request: pytest.FixtureRequest) -> Stack:
    """A webhook receiver over fresh tables whose streams are on (the change feed provisioned), on each
    backend."""
    return make_stack(backend, request.node.name, feed=True)


def live_samples() -> list[str]:
    return [t for t in sample_types() if not t.endswith(".deleted") and not t.startswith(("email.", "sms."))]


@pytest.fixture
def bus(moto_endpoint: str) -> Iterator[tuple[str, Any, str]]:
    """A bus whose rule sends every clerk-sync event to a queue: (bus name, SQS client, queue URL)."""
    events = boto3.client("events", endpoint_url=moto_endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    suffix = uuid.uuid4().hex[:8]
    name, rule = f"changes-{suffix}", f"everything-{suffix}"
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"changes-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=name, EventPattern=json.dumps({"source": ["clerk-sync"]}))
    events.put_targets(Rule=rule, EventBusName=name, Targets=[{"Id": "queue", "Arn": arn}])
    yield name, sqs, queue_url
    events.remove_targets(Rule=rule, EventBusName=name, Ids=["queue"])
    events.delete_rule(Name=rule, EventBusName=name)
    events.delete_event_bus(Name=name)
    sqs.delete_queue(QueueUrl=queue_url)


def stream_batches(stack: Stack) -> Iterator[list[dict[str, Any]]]:
    """Each synced table's stream records, as Lambda's event source mapping hands them over."""
    streams = boto3.client("dynamodbstreams", endpoint_url=stack.endpoints.dynamodb, region_name=REGION)
    for spec in TABLES.values():
        table = stack.dynamodb.describe_table(TableName=stack.tables[spec.template_id])["Table"]
        arn = table["LatestStreamArn"]
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
            if records:
                yield [{**record, "eventSourceARN": arn} for record in records]


def drain(sqs: Any, queue_url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return bodies
        for message in got["Messages"]:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def stored_records(stack: Stack) -> dict[tuple[Table, str], Any]:
    """The read library's record of every live item, by table and key."""
    found = {}
    for table, spec in TABLES.items():
        for item in stack.items(spec.template_id):
            if not item.get("deleted"):
                key = json.dumps({name: item[name] for name in spec.key_names}, sort_keys=True)
                found[table, key] = RECORDS[table].from_item(item)
    return found


@pytest.mark.parametrize("contents", [ChangeDetail.FULL, ChangeDetail.KEYS])
def test_what_the_feed_publishes_parses_as_the_stored_records(stack, bus, contents):
    for event_type in live_samples():
        envelope = json.loads((SAMPLES_DIR / f"{event_type}.json").read_text())
        status, _ = stack.deliver(signed(envelope))
        assert status == 200, event_type
    bus_name, sqs, queue_url = bus
    names = read_tables({spec.variable: stack.tables[spec.template_id] for spec in TABLES.values()})
    config = ChangesConfig(tables=names, bus_name=bus_name, contents=contents)
    publisher = build_publisher(config, Endpoints(events=stack.endpoints.sqs, region=REGION))
    published = 0
    for batch in stream_batches(stack):
        done = publisher.publish(batch, None)
        assert done.failed_from is None
        published += done.events

    changes: list[Change] = [parse(body) for body in drain(sqs, queue_url)]

    assert len(changes) == published > 0
    assert {c.entity for c in changes} == {s.entity for s in TABLES.values() if s.from_webhooks}
    records = stored_records(stack)
    latest = 0
    for change in changes:
        assert change.old is None or contents is ChangeDetail.FULL
        stored = records[change.table, json.dumps(dict(change.key), sort_keys=True)]
        if contents is ChangeDetail.KEYS:
            assert change.new is None and "new" in change.omitted
            continue
        assert change.new is not None and type(change.new) is type(stored)
        if change.version != stored.version:
            continue  # a version the table has since replaced: checked when it was the latest
        latest += 1
        for field in fields(stored):
            got, want = getattr(change.new, field.name), getattr(stored, field.name)
            if field.name == CLERK:
                assert dict(got) == dict(want) and len(want) > 0, change.detail_type
            else:
                assert got == want, (change.detail_type, field.name)
    assert contents is ChangeDetail.KEYS or latest == len(records)
