"""examples/on_change end to end on the local engines: real change events (domain/changes.py, from the
bundled samples' writes) are put on an EventBridge bus of moto's server, whose rule (the example
template's pattern) targets an SQS queue; the queue is drained into the example's handler, whose table
(the template's, on each DynamoDB engine) de-duplicates by id and orders by version. The work runs
exactly once per change: not for duplicates, not for an older version arriving late, not for events the
pattern leaves out; again after a failed attempt, and after an attempt that died mid-work once its
lease ran out."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from change_events import as_image, sample_writes
from clerk_sync.domain.changes import SOURCE, Change, ChangeDetail, change_of, detail, encode
from clerk_sync.domain.tables import Table
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from conftest import REGION, Backend
from stacks import sqs_event

EXAMPLE = TEMPLATE_PATH.parent / "examples" / "on_change"
TEMPLATE = load_template(EXAMPLE / "template.yaml")
RULE = TEMPLATE["Resources"]["OnChangeFunction"]["Properties"]["Events"]["MemberJoined"]["Properties"]
TABLE = TEMPLATE["Resources"]["HandledChangesTable"]["Properties"]
T0 = 1_765_000_000_000


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


@pytest.fixture
def example(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example's module, imported as Lambda does with its template's environment, over a fresh
    copy of the template's table on the backend's DynamoDB engine."""
    name = f"handled-changes-{uuid.uuid4().hex[:8]}"
    dynamodb = client("dynamodb", backend.dynamodb_endpoint)
    dynamodb.create_table(
        TableName=name,
        BillingMode=TABLE["BillingMode"],
        AttributeDefinitions=TABLE["AttributeDefinitions"],
        KeySchema=TABLE["KeySchema"],
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    ttl = TABLE["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    monkeypatch.setenv("HANDLED_CHANGES_TABLE", name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", backend.dynamodb_endpoint)
    spec = importlib.util.spec_from_file_location("on_change", EXAMPLE / "on_change.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def feed(moto_endpoint: str) -> Iterator[tuple[Callable[..., None], Callable[[], list[str]]]]:
    """A bus with the example's rule targeting a queue: `put(changes)` publishes them as ChangesFunction
    does, `drain()` receives (and deletes) every message the rule delivered, their bodies in order."""
    events, sqs = client("events", moto_endpoint), client("sqs", moto_endpoint)
    suffix = uuid.uuid4().hex[:8]
    bus, rule = f"clerk-sync-changes-{suffix}", f"member-joined-{suffix}"
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"on-change-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=f"member-joined-{suffix}", EventBusName=bus, EventPattern=json.dumps(RULE["Pattern"])
    )
    events.put_targets(
        Rule=f"member-joined-{suffix}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )

    def put(changes: list[Change], contents: ChangeDetail = ChangeDetail.FULL) -> None:
        entries = [
            {
                "Source": SOURCE,
                "DetailType": change.detail_type,
                "Detail": encode(detail(change, contents)),
                "EventBusName": bus,
                "Time": change.version / 1000,
            }
            for change in changes
        ]
        answer = events.put_events(Entries=entries)
        assert answer["FailedEntryCount"] == 0, answer

    def drain() -> list[str]:
        bodies: list[str] = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                return bodies
            for message in got["Messages"]:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    yield put, drain
    events.remove_targets(Rule=rule, EventBusName=bus, Ids=["queue"])
    events.delete_rule(Name=rule, EventBusName=bus)
    events.delete_event_bus(Name=bus)
    sqs.delete_queue(QueueUrl=queue_url)


def membership(organization_id: str, user_id: str, version: int, role: str = "org:member") -> dict[str, Any]:
    """A stored membership item like the sample's write, for another key and version."""
    item = dict(sample_writes()["sample:organizationMembership.created"].item)
    item.update(
        organization_id=organization_id, user_id=user_id, version=version, updated_at=version, role=role
    )
    return item


def created(item: dict[str, Any], before: dict[str, Any] | None = None) -> Change:
    change = change_of(Table.MEMBERSHIPS, as_image(before) if before else None, as_image(item))
    assert change is not None and change.kind.value == "created"
    return change


def deleted(item: dict[str, Any], version: int) -> Change:
    tombstone = {
        "organization_id": item["organization_id"],
        "user_id": item["user_id"],
        "version": version,
        "deleted": True,
        "deleted_at": version,
        "svix_id": "msg_left",
    }
    change = change_of(Table.MEMBERSHIPS, as_image(item), as_image(tombstone))
    assert change is not None
    return change


@pytest.fixture
def work(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None, int]]:
    """What the example's work (`notify`) was done for: (organization, user, role, version) each time."""
    done: list[tuple[str, str, str | None, int]] = []
    original = example.notify

    def recording(change: Any) -> None:
        original(change)
        role = change.new.role if change.new is not None else None
        done.append((change.key["organization_id"], change.key["user_id"], role, change.version))

    monkeypatch.setattr(example, "notify", recording)
    return done


def test_each_change_is_worked_on_once_duplicates_and_older_versions_ignored(example, feed, work, caplog):
    put, drain = feed
    ann = membership("org_one", "user_ann", T0, role="org:admin")
    bob_first = membership("org_one", "user_bob", T0 + 10)
    bob_again = membership("org_one", "user_bob", T0 + 30, role="org:admin")  # re-joined after leaving
    ann_joins = created(ann)
    put([ann_joins, created(bob_first), ann_joins])  # a retried batch publishes ann's again
    put([deleted(bob_first, T0 + 20), created(bob_again, None)])  # the deletion: not the rule's
    bob_earlier = membership("org_one", "user_bob", T0 + 5)  # an earlier join, its event arriving late
    put([created(bob_earlier), ann_joins])  # and ann's published once more
    put([created(membership("org_two", "user_cy", T0 + 40))], ChangeDetail.KEYS)

    bodies = drain()

    assert len(bodies) == 7  # every membership.created entry, none of the deletion
    assert {json.loads(body)["detail-type"] for body in bodies} == {"organizationMembership.created"}
    answer = example.handler(sqs_event(bodies[:4]), None)  # a queue between the rule and the function
    assert answer == {"batchItemFailures": []}
    outcomes = [example.handler(json.loads(body), None)["outcome"] for body in bodies[4:]]  # from the rule
    assert work == [
        ("org_one", "user_ann", "org:admin", T0),
        ("org_one", "user_bob", "org:member", T0 + 10),
        ("org_one", "user_bob", "org:admin", T0 + 30),
        ("org_two", "user_cy", None, T0 + 40),  # ChangeDetail keys: no record, the key alone
    ]
    assert outcomes == ["stale", "duplicate", "handled"]
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "on_change"]
    assert [line["outcome"] for line in logged if "outcome" in line] == ["duplicate", "stale", "duplicate"]
    assert sum(1 for line in logged if line.get("notify") == "member joined") == 4


def test_a_failed_attempt_is_done_again_on_the_retry_and_a_dead_one_after_its_lease(
    example, feed, work, monkeypatch
):
    put, drain = feed
    first, second = created(membership("org_f", "user_f1", T0)), created(membership("org_f", "user_f2", T0))
    put([first, second])
    bodies = drain()
    failing = {"left": 1}
    recording = example.notify

    def fails_once(change: Any) -> None:
        if failing["left"] and change.key["user_id"] == "user_f1":
            failing["left"] -= 1
            raise RuntimeError("the notification service is down")
        recording(change)

    monkeypatch.setattr(example, "notify", fails_once)
    answer = example.handler(sqs_event(bodies), None)
    assert len(answer["batchItemFailures"]) == 1  # the queue sends that one again
    assert [w[1] for w in work] == ["user_f2"]
    assert example.handler(json.loads(bodies[0]), None) == {"outcome": "handled"}
    assert [w[1] for w in work] == ["user_f2", "user_f1"]
    assert example.handler(json.loads(bodies[0]), None) == {"outcome": "duplicate"}

    # an attempt that claimed a change and died before its work: its lease holds, then runs out
    third = created(membership("org_f", "user_f3", T0))
    put([third])
    (body,) = drain()
    token, _ = example.claim(example.parse(json.loads(body)))
    assert token is not None
    assert example.handler(json.loads(body), None) == {"outcome": "duplicate"}
    later = example.now_seconds() + example.LEASE_SECONDS + 1
    monkeypatch.setattr(example, "now_seconds", lambda: later)
    assert example.handler(json.loads(body), None) == {"outcome": "handled"}
    assert [w[1] for w in work] == ["user_f2", "user_f1", "user_f3"]


def test_what_is_not_a_change_is_dropped_with_a_warning(example, work, caplog):
    other = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert example.handler(other, None) == {"outcome": "not a change"}
    assert example.handler(sqs_event(["not json"]), None) == {"batchItemFailures": []}
    assert work == []
    assert [r.levelname for r in caplog.records if r.name == "on_change"] == ["WARNING", "WARNING"]
