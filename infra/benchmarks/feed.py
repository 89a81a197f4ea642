"""The change feed's cost per million changes and its sizes: the event each of Clerk's example payloads
makes (created: `new` only; updated: `new` and `old`), the PutEvents chunks it is billed as, the
ChangesFunction's duration per batch against a local EventBridge, and the archive."""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from clerk_sync.adapters.aws_clients import Clients, Endpoints
from clerk_sync.adapters.eventbridge import EventBus
from clerk_sync.app.changes import ChangePublisher
from clerk_sync.domain.changes import SOURCE, ChangeDetail, change_of, detail, entry_size
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import Table
from clerk_sync_local.stack.functions import LocalResources, function_specs
from clerk_sync_local.stack.pool import ContainerPool
from clerk_sync_local.stack.provision import Provisioned
from clerk_sync_local.stack.stream_worker import StreamWorker, stream_event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

from benchmarks import cost
from benchmarks.items import SPEC_EXAMPLES_DIR, SVIX_ID

PUT_EVENTS_PER_MILLION = 1.00  # custom events, per 64 KB chunk
CHUNK_BYTES = 64 * 1024
ARCHIVE_PER_GB = 0.10  # archived (processed)
ARCHIVE_PER_GB_MONTH = 0.023
MEMORY_MB = 512  # the ChangesFunction's (template.yaml)
REPEATS = 30
WRITES = 50  # for the latency from a write to the bus
CATCH_UP_SECONDS = 120  # the first write waits for the records the deliveries left in the stream
LAMBDA_POLL = 0.25  # s between reads of an idle shard: Lambda reads a stream 4 times a second


@dataclass(frozen=True)
class EventSize:
    """The change events one payload's write makes, in bytes as EventBridge counts an entry."""

    event_type: str
    created: int
    updated: int
    keys_only: int
    trimmed: bool  # the updated event left something out to fit in 256 KB

    def chunks(self, size: int) -> int:
        return max(1, math.ceil(size / CHUNK_BYTES))


def _write(envelope: dict[str, Any]) -> tuple[Table, dict[str, Any]] | None:
    write = changes_of(parse_event(json.dumps(envelope).encode(), SVIX_ID, 0)).write
    if write is None or write.tombstone:
        return None
    return write.table, dict(write.item)


def _older(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "version": int(item["version"]) - 1}


def event_sizes() -> list[EventSize]:
    """For each of Clerk's example payloads that writes a live record."""
    sizes = []
    for path in sorted(SPEC_EXAMPLES_DIR.glob("*.json")):
        envelope = json.loads(path.read_bytes())
        written = _write(envelope)
        if written is None:
            continue
        table, item = written
        created = change_of(table, None, item)
        updated = change_of(table, _older(item), item)
        assert created is not None and updated is not None
        full = detail(updated, ChangeDetail.FULL)
        sizes.append(
            EventSize(
                str(envelope["type"]),
                entry_size(created.detail_type, detail(created, ChangeDetail.FULL)),
                entry_size(updated.detail_type, full),
                entry_size(updated.detail_type, detail(updated, ChangeDetail.KEYS)),
                bool(full["omitted"]),
            )
        )
    return sizes


def stream_records(count: int) -> tuple[list[dict[str, Any]], str]:
    """`count` Lambda stream records of user updates (each a new version), and their table's name."""
    envelope = json.loads((SPEC_EXAMPLES_DIR / "user.updated.json").read_bytes())
    written = _write(envelope)
    assert written is not None
    _, item = written
    serialize = TypeSerializer().serialize
    records = []
    for n in range(count):
        new = {**item, "id": f"user_bench{n}"}
        images = {"NewImage": new, "OldImage": _older(new)}
        body = {name: {k: serialize(v) for k, v in image.items()} for name, image in images.items()}
        records.append(
            {
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench-users/stream/x",
                "dynamodb": {**body, "SequenceNumber": str(1000 + n), "ApproximateCreationDateTime": 1.7e9},
            }
        )
    return records, "bench-users"


@dataclass(frozen=True)
class BatchTiming:
    records: int
    median_ms: float


def publish_timings(endpoint: str, region: str) -> list[BatchTiming]:
    """The ChangesFunction's median time for a batch of 1, 10 and 100 records, PutEvents to moto."""
    events = boto3.client("events", endpoint_url=endpoint, region_name=region)
    bus = f"bench-changes-{uuid.uuid4().hex[:6]}"
    events.create_event_bus(Name=bus)
    client = Clients(Endpoints(events=endpoint, region=region)).client("events")
    timings = []
    for size in (1, 10, 100):
        records, table_name = stream_records(size)
        publisher = ChangePublisher(EventBus(client, bus), {table_name: Table.USERS}, ChangeDetail.FULL)
        samples = []
        for _ in range(REPEATS if size < 100 else REPEATS // 3):
            started = time.perf_counter()
            done = publisher.publish(records, None)
            samples.append((time.perf_counter() - started) * 1000)
            assert done.failed_from is None and done.events == size
        timings.append(BatchTiming(size, statistics.median(samples)))
    return timings


def per_million(size: int, batch: BatchTiming, archive: bool) -> dict[str, float]:
    """Dollars per million changes of events of `size` bytes, published in batches like `batch`."""
    invocations = 1_000_000 / batch.records
    gb_seconds = invocations * batch.median_ms / 1000 * MEMORY_MB / 1024
    lambda_usd = invocations * cost.LAMBDA_PER_MILLION / 1_000_000 + gb_seconds * cost.LAMBDA_PER_GB_SECOND
    chunks = max(1, math.ceil(size / CHUNK_BYTES))
    gigabytes = size * 1_000_000 / 1024**3
    return {
        "lambda": lambda_usd,
        "events": chunks * PUT_EVENTS_PER_MILLION,
        "archive": gigabytes * ARCHIVE_PER_GB if archive else 0.0,
        "storage": gigabytes * ARCHIVE_PER_GB_MONTH if archive else 0.0,
    }


def lines(sizes: list[EventSize], timings: list[BatchTiming], latencies: list[Latency]) -> list[str]:
    """The report's section."""
    out = [
        "## Change feed",
        "",
        "### Event size per event type (Clerk's published example payloads)",
        "",
        f"The entry each write publishes (source `{SOURCE}`, detail-type, detail and time, as EventBridge "
        "sizes it): a creation carries `new`, an update `new` and `old` (here the same record at the "
        "version before), `ChangeDetail=keys` neither. PutEvents bills a 64 KB chunk as one event.",
        "",
        "| event type | created | updated | chunks (updated) | keys only |",
        "|---|---|---|---|---|",
    ]
    for s in sizes:
        trimmed = " (trimmed)" if s.trimmed else ""
        out.append(
            f"| {s.event_type} | {s.created:,} B | {s.updated:,} B{trimmed} | {s.chunks(s.updated)} "
            f"| {s.keys_only:,} B |"
        )
    one = sum(s.chunks(s.updated) == 1 for s in sizes)
    trimmed_count = sum(s.trimmed for s in sizes)
    out += [
        "",
        f"{one} of {len(sizes)} types' updates are one 64 KB chunk; {trimmed_count} needed trimming "
        "to fit in 256 KB.",
        "",
        "### ChangesFunction duration per batch (PutEvents to moto's EventBridge, user updates, full)",
        "",
        "| records per batch | median | per record |",
        "|---|---|---|",
    ]
    out += [f"| {t.records} | {t.median_ms:.1f} ms | {t.median_ms / t.records:.2f} ms |" for t in timings]
    median = sorted(s.updated for s in sizes)[len(sizes) // 2]
    out += [
        "",
        f"### Cost per million changes (us-east-1 list prices; {median:,} B events, the median update)",
        "",
        f"Stream reads by Lambda are free. Lambda arm64 at {MEMORY_MB} MB for the measured batch "
        "durations (moto's latency: AWS's PutEvents takes longer); PutEvents "
        f"${PUT_EVENTS_PER_MILLION:.2f} per million 64 KB chunks; the archive ${ARCHIVE_PER_GB:.2f} per GB "
        f"archived and ${ARCHIVE_PER_GB_MONTH:.3f} per GB-month kept.",
        "",
        "| batches of | Lambda | PutEvents | archive (once) | archive (a month kept) | total, first month |",
        "|---|---|---|---|---|---|",
    ]
    for timing in (timings[0], timings[-1]):
        c = per_million(median, timing, archive=True)
        out.append(
            f"| {timing.records} | ${c['lambda']:.2f} | ${c['events']:.2f} | ${c['archive']:.2f} "
            f"| ${c['storage']:.3f} | ${sum(c.values()):.2f} |"
        )
    out += [
        "",
        "A batch of 1 is the quiet case (each change alone); under load Lambda fills batches up to 100.",
        "",
        *latency_lines(latencies),
    ]
    return out


@dataclass(frozen=True)
class Latency:
    """From a write to its event on the bus, on one engine."""

    engine: str
    samples: int
    median_ms: float
    p99_ms: float


def latency(engine: str, dynamodb: str, aws: str, provisioned: Provisioned, region: str) -> Latency:
    """`WRITES` users written one after the other: each one's time from PutItem to its event arriving
    at a queue the bus's rule feeds, the ChangesFunction run by the local stream mapping polling as
    Lambda does (4 times a second) with the template's batching window."""
    assert provisioned.changes is not None
    feed = provisioned.changes
    sqs = boto3.client("sqs", endpoint_url=aws, region_name=region)
    events = boto3.client("events", endpoint_url=aws, region_name=region)
    queue = sqs.create_queue(QueueName=f"bench-latency-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="bench-latency", EventBusName=feed.bus_name, EventPattern=json.dumps({"source": [SOURCE]})
    )
    events.put_targets(Rule="bench-latency", EventBusName=feed.bus_name, Targets=[{"Id": "q", "Arn": arn}])
    template = load_template()
    spec = function_specs(template, TEMPLATE_PATH.parent)["ChangesFunction"]
    refs = {**provisioned.tables, "ChangesFailedQueue": feed.failed_queue_url}
    [mapping] = [
        m
        for m in stream_event_source_mappings(
            spec, LocalResources(template, {}, refs, provisioned.attributes)
        )
        if m.table_id == "UsersTable"
    ]
    tables = {provisioned.tables["UsersTable"]: Table.USERS}
    client = Clients(Endpoints(events=aws, region=region)).client("events")
    publisher = ChangePublisher(EventBus(client, feed.bus_name), tables, ChangeDetail.FULL)
    pool = ContainerPool("ChangesFunction", [publisher.handle], 60.0)
    streams = boto3.client("dynamodbstreams", endpoint_url=dynamodb, region_name=region)
    worker = StreamWorker(
        streams, mapping, pool, region, sqs, feed.failed_queue_url, idle_seconds=LAMBDA_POLL
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, lambda line: None), daemon=True)
    thread.start()
    table = boto3.client("dynamodb", endpoint_url=dynamodb, region_name=region)

    def write_and_wait(user_id: str, version: int) -> float:
        """ms from the write to its event (every other event received on the way is dropped)."""
        started = time.perf_counter()
        item = {"id": {"S": user_id}, "version": {"N": str(version)}, "svix_id": {"S": "msg_bench"}}
        table.put_item(TableName=provisioned.tables["UsersTable"], Item=item)
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            arrived = False
            for message in got.get("Messages", []):
                arrived |= json.loads(message["Body"])["detail"]["key"]["id"] == user_id
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            if arrived:
                return (time.perf_counter() - started) * 1000
            assert time.perf_counter() - started < CATCH_UP_SECONDS, "no event in time"

    samples = []
    try:
        write_and_wait("user_latency_first", 1_732_000_000_000)  # the stream read to its end first
        samples = [write_and_wait(f"user_latency{n}", 1_732_000_000_001 + n) for n in range(WRITES)]
    finally:
        stop.set()
        thread.join(timeout=5)
    ordered = sorted(samples)
    return Latency(engine, len(samples), statistics.median(samples), ordered[int(len(ordered) * 0.99) - 1])


def latency_lines(measured: list[Latency]) -> list[str]:
    """The report's latency section."""
    out = [
        "### From a write to the bus (local engines)",
        "",
        f"{WRITES} users written one after the other, each timed from its PutItem to its event arriving at a "
        "queue a rule of the bus feeds: the local stream mapping reads the table's stream 4 times a second, "
        "as Lambda does, with the template's batching window (0), then the ChangesFunction publishes. On "
        "AWS, Lambda's own poll and PutEvents' latency take the local engines' place.",
        "",
        "| engine | writes | median | p99 |",
        "|---|---|---|---|",
    ]
    out += [f"| {m.engine} | {m.samples} | {m.median_ms:.0f} ms | {m.p99_ms:.0f} ms |" for m in measured]
    return [*out, ""]
