"""Provisioning from template.yaml on moto and on DynamoDB Local (the change feed on and off); the engines
themselves."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from clerk_sync.settings import DEFAULT_QUEUE_NAME, DEFAULT_TABLES
from clerk_sync_local.emulator.engines import DynamoDBLocalEngine, EngineError, dynamodb_client
from clerk_sync_local.stack.provision import (
    CHANGES_FAILED_QUEUE_ID,
    DEAD_LETTER_QUEUE_ID,
    QUEUE_ID,
    TABLE_ENV_VARS,
    Provisioned,
    ResourceNames,
    provision,
)
from clerk_sync_local.stack.template import StackParameters, load_template, resources
from conftest import FEED_OFF, FEED_ON

TEMPLATE = load_template()
TABLES = resources(TEMPLATE, "AWS::DynamoDB::Table")
QUEUES = resources(TEMPLATE, "AWS::SQS::Queue")


def _queue_urls(provisioned: Provisioned) -> dict[str, str]:
    assert provisioned.changes is not None
    return {
        QUEUE_ID: provisioned.queue_url,
        DEAD_LETTER_QUEUE_ID: provisioned.dead_letter_queue_url,
        CHANGES_FAILED_QUEUE_ID: provisioned.changes.failed_queue_url,
    }


def _by_name(indexes: list[Any], name_key: str = "IndexName") -> dict[str, Any]:
    return {index[name_key]: index for index in indexes}


@pytest.fixture(scope="module")
def provisioned(backend) -> Provisioned:
    return backend.fresh("provisioning", feed=True)


# --- what the template says, as literals: a parser or provisioning bug cannot pass both kinds of check


def test_the_engines_hold_the_documented_keys_ttl_and_redrive(backend, provisioned):
    dynamodb, sqs = backend.dynamodb(), backend.sqs()

    memberships = dynamodb.describe_table(TableName=provisioned.tables["MembershipsTable"])["Table"]
    assert memberships["KeySchema"] == [
        {"AttributeName": "organization_id", "KeyType": "HASH"},
        {"AttributeName": "user_id", "KeyType": "RANGE"},
    ]
    users = dynamodb.describe_table(TableName=provisioned.tables["UsersTable"])["Table"]
    assert [index["IndexName"] for index in users["GlobalSecondaryIndexes"]] == ["email-index"]
    ttl = dynamodb.describe_time_to_live(TableName=provisioned.tables["IdempotencyTable"])[
        "TimeToLiveDescription"
    ]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}

    queue = sqs.get_queue_attributes(QueueUrl=provisioned.queue_url, AttributeNames=["All"])["Attributes"]
    dead_letter = sqs.get_queue_attributes(QueueUrl=provisioned.dead_letter_queue_url, AttributeNames=["All"])
    assert queue["VisibilityTimeout"] == "180"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter["Attributes"]["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert dead_letter["Attributes"]["MessageRetentionPeriod"] == "1209600"

    # the change feed, on by default: every synced table's stream, with both images
    assert users["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert provisioned.streams["UsersTable"] == users["LatestStreamArn"]
    idempotency = dynamodb.describe_table(TableName=provisioned.tables["IdempotencyTable"])["Table"]
    assert not (idempotency.get("StreamSpecification") or {}).get("StreamEnabled")


# --- everything else the template says, read from the template ------------------------------------


@pytest.mark.parametrize("logical_id", list(TABLES))
def test_table_matches_the_template(backend, provisioned, logical_id):
    expected = TABLES[logical_id]
    dynamodb = backend.dynamodb()
    name = provisioned.tables[logical_id]
    table = dynamodb.describe_table(TableName=name)["Table"]

    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert table["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]

    actual_indexes = _by_name(table.get("GlobalSecondaryIndexes", []))
    expected_indexes = _by_name(expected.get("GlobalSecondaryIndexes", []))
    assert actual_indexes.keys() == expected_indexes.keys()
    for index_name, index in expected_indexes.items():
        assert actual_indexes[index_name]["KeySchema"] == index["KeySchema"]
        assert actual_indexes[index_name]["Projection"] == index["Projection"]
        assert actual_indexes[index_name]["IndexStatus"] == "ACTIVE"

    stream = StackParameters(TEMPLATE, FEED_ON).resolved(expected).get("StreamSpecification")
    if stream is not None:
        assert table["StreamSpecification"] == {"StreamEnabled": True, **stream}
        assert provisioned.streams[logical_id] == table["LatestStreamArn"]
    else:
        assert logical_id not in provisioned.streams

    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    spec = expected.get("TimeToLiveSpecification")
    if spec is not None and spec["Enabled"]:
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", spec["AttributeName"])
    else:
        assert ttl["TimeToLiveStatus"] == "DISABLED"


@pytest.mark.parametrize("logical_id", list(QUEUES))
def test_queue_matches_the_template(backend, provisioned, logical_id):
    sqs = backend.sqs()
    urls = _queue_urls(provisioned)
    attributes = sqs.get_queue_attributes(QueueUrl=urls[logical_id], AttributeNames=["All"])["Attributes"]

    for key, value in QUEUES[logical_id].items():
        if key == "RedrivePolicy":
            target_id, attribute = value["deadLetterTargetArn"]["Fn::GetAtt"]
            assert attribute == "Arn"
            target = sqs.get_queue_attributes(QueueUrl=urls[target_id], AttributeNames=["QueueArn"])
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": target["Attributes"]["QueueArn"],
                "maxReceiveCount": value["maxReceiveCount"],
            }
        else:
            assert attributes[key] == str(value), key


# --- repeated and partial provisioning ------------------------------------------------------------


def test_provisioning_twice_changes_nothing_and_keeps_data(backend):
    names = backend.names("twice")
    first = backend.provision(names)
    dynamodb, sqs = backend.dynamodb(), backend.sqs()
    dynamodb.put_item(TableName=first.tables["UsersTable"], Item={"id": {"S": "user_1"}})
    sqs.send_message(QueueUrl=first.queue_url, MessageBody="kept")

    assert backend.provision(names) == first

    assert "Item" in dynamodb.get_item(TableName=first.tables["UsersTable"], Key={"id": {"S": "user_1"}})
    waiting = sqs.get_queue_attributes(
        QueueUrl=first.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "1"
    prefix = names.queue.removesuffix(DEFAULT_QUEUE_NAME)
    pages = dynamodb.get_paginator("list_tables").paginate()
    tables = [name for page in pages for name in page["TableNames"] if name.startswith(prefix)]
    assert sorted(tables) == sorted(names.tables.values())


def test_fresh_accepts_any_prefix(backend):
    provisioned = backend.fresh("test_x[dynamodb-local-UsersTable] " + "long" * 30, feed=True)

    assert provisioned.queue_url.endswith("-clerk-sync-side-effects")
    assert all(name.startswith("test_x-dynamodb-local-UsersTable-") for name in provisioned.tables.values())
    # EventBridge's limits (48 characters for an archive, 64 for a rule): shortened, still unique
    assert provisioned.changes is not None and provisioned.changes.archive is not None
    assert len(provisioned.changes.archive) <= 48 and len(provisioned.changes.rule) <= 64
    assert provisioned.changes.bus_name.endswith("-clerk-sync-changes")


def test_only_missing_resources_are_created(backend):
    names = backend.names("partial")
    first = backend.provision(names)
    dynamodb = backend.dynamodb()
    dynamodb.put_item(TableName=first.tables["UsersTable"], Item={"id": {"S": "user_1"}})
    dynamodb.delete_table(TableName=first.tables["SessionsTable"])
    dynamodb.get_waiter("table_not_exists").wait(
        TableName=first.tables["SessionsTable"], WaiterConfig={"Delay": 1}
    )

    assert backend.provision(names) == first

    assert (
        dynamodb.describe_table(TableName=first.tables["SessionsTable"])["Table"]["TableStatus"] == "ACTIVE"
    )
    assert "Item" in dynamodb.get_item(TableName=first.tables["UsersTable"], Key={"id": {"S": "user_1"}})


# --- the change feed ------------------------------------------------------------------------------


def _stream_of(backend, table: str) -> dict[str, object]:
    return backend.dynamodb().describe_table(TableName=table)["Table"].get("StreamSpecification") or {}


def _kept_events(backend, log_group: str, count: int) -> list[dict[str, object]]:
    """The events the catch-all rule wrote to its log group, once `count` are there (moto writes them
    within PutEvents: the deadline only covers a slow engine)."""
    deadline = time.monotonic() + 30
    while True:
        found = backend.logs().filter_log_events(logGroupName=log_group)["events"]
        if len(found) >= count or time.monotonic() > deadline:
            return [json.loads(event["message"]) for event in found]
        time.sleep(0.1)


def test_the_change_feed_follows_its_parameter_and_is_added_to_existing_tables(backend):
    names = backend.names("feed")
    off = backend.provision(names, FEED_OFF)
    assert (off.changes, off.streams) == (None, {})
    assert not _stream_of(backend, names.tables["UsersTable"]).get("StreamEnabled")
    with pytest.raises(backend.sqs().exceptions.QueueDoesNotExist):
        backend.sqs().get_queue_url(QueueName=names.changes_failed_queue)
    with pytest.raises(backend.events().exceptions.ResourceNotFoundException):
        backend.events().describe_event_bus(Name=names.bus)
    backend.dynamodb().put_item(TableName=names.tables["UsersTable"], Item={"id": {"S": "user_kept"}})

    # on, over the same tables (a stack started before the feed existed): streams enabled, data kept
    on = backend.provision(names, FEED_ON)
    assert on.tables == off.tables and on.queue_url == off.queue_url
    assert set(on.streams) == {logical_id for logical_id in TABLES if logical_id != "IdempotencyTable"}
    for logical_id, arn in on.streams.items():
        stream = _stream_of(backend, names.tables[logical_id])
        assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, logical_id
        assert backend.streams().describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    item = backend.dynamodb().get_item(TableName=names.tables["UsersTable"], Key={"id": {"S": "user_kept"}})
    assert "Item" in item
    changes = on.changes
    assert changes is not None and changes.bus_name == names.bus
    assert (
        backend.sqs().get_queue_url(QueueName=names.changes_failed_queue)["QueueUrl"]
        == changes.failed_queue_url
    )
    failed = backend.sqs().get_queue_attributes(QueueUrl=changes.failed_queue_url, AttributeNames=["All"])
    assert failed["Attributes"]["MessageRetentionPeriod"] == str(
        QUEUES[CHANGES_FAILED_QUEUE_ID]["MessageRetentionPeriod"]
    )

    events = backend.events()
    assert events.describe_event_bus(Name=names.bus)["Arn"] == changes.bus_arn
    archive = events.describe_archive(ArchiveName=changes.archive)
    template_archive = TEMPLATE["Resources"]["ChangesArchive"]["Properties"]
    assert archive["EventSourceArn"] == changes.bus_arn
    assert archive["RetentionDays"] == int(TEMPLATE["Parameters"]["ChangeArchiveRetentionDays"]["Default"])
    assert (
        json.loads(archive["EventPattern"]) == template_archive["EventPattern"] == {"source": ["clerk-sync"]}
    )
    rule = events.describe_rule(Name=changes.rule, EventBusName=names.bus)
    assert json.loads(rule["EventPattern"]) == {"source": ["clerk-sync"]} and rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule=changes.rule, EventBusName=names.bus)["Targets"]
    assert target["Arn"].endswith(f":log-group:{changes.log_group}")

    # once more: nothing new, nothing doubled
    assert backend.provision(names, FEED_ON) == on
    assert len(events.list_targets_by_rule(Rule=changes.rule, EventBusName=names.bus)["Targets"]) == 1
    assert [r["Name"] for r in events.list_rules(EventBusName=names.bus)["Rules"]].count(changes.rule) == 1

    # what the bus receives, the catch-all rule keeps (oldest first), as EventBridge delivers it
    for n in range(2):
        detail = json.dumps({"n": n})
        entry = {
            "Source": "clerk-sync",
            "DetailType": "user.created",
            "Detail": detail,
            "EventBusName": names.bus,
        }
        assert "EventId" in events.put_events(Entries=[entry])["Entries"][0]
    kept = _kept_events(backend, changes.log_group, 2)
    assert [(e["source"], e["detail-type"], e["detail"]) for e in kept] == [
        ("clerk-sync", "user.created", {"n": 0}),
        ("clerk-sync", "user.created", {"n": 1}),
    ]


def test_no_archive_when_its_retention_is_zero(backend):
    names = backend.names("no-archive")
    provisioned = backend.provision(names, {**FEED_ON, "CHANGE_ARCHIVE_RETENTION_DAYS": "0"})
    assert provisioned.changes is not None and provisioned.changes.archive is None
    assert backend.events().list_archives(EventSourceArn=provisioned.changes.bus_arn)["Archives"] == []


def test_the_feed_is_on_when_the_environment_says_nothing():
    """The template's Default decides: provisioning without an environment turns the feed on."""
    assert StackParameters(TEMPLATE, {}).condition("ChangeFeedEnabled") is True
    assert StackParameters(TEMPLATE, FEED_OFF).condition("ChangeFeedEnabled") is False
    assert (
        StackParameters(TEMPLATE, {"CHANGE_ARCHIVE_RETENTION_DAYS": "0"}).condition("ChangeArchiveEnabled")
        is False
    )
    users = StackParameters(TEMPLATE, FEED_OFF).resolved(TABLES["UsersTable"])
    assert "StreamSpecification" not in users and users["KeySchema"] == TABLES["UsersTable"]["KeySchema"]


# --- names ----------------------------------------------------------------------------------------


def test_resource_names_default_to_the_functions_configuration():
    names = ResourceNames.from_env({"USERS_TABLE": ""})

    assert names.tables == {
        logical_id: DEFAULT_TABLES[variable] for logical_id, variable in TABLE_ENV_VARS.items()
    }
    assert names.tables["MembershipsTable"] == "clerk-sync-memberships"
    assert (names.queue, names.dead_letter_queue) == (
        "clerk-sync-side-effects",
        "clerk-sync-side-effects-dlq",
    )
    assert (names.bus, names.changes_failed_queue) == ("clerk-sync-changes", "clerk-sync-changes-failed")


def test_resource_names_follow_the_environment():
    names = ResourceNames.from_env(
        {"SESSIONS_TABLE": "my-sessions", "SIDE_EFFECTS_QUEUE_NAME": "my-queue", "CHANGES_BUS_NAME": "my-bus"}
    )

    assert names.tables["SessionsTable"] == "my-sessions"
    assert names.tables["UsersTable"] == "clerk-sync-users"
    assert (names.queue, names.dead_letter_queue) == ("my-queue", "my-queue-dlq")
    assert names.bus == "my-bus"


def test_table_variables_are_the_ones_the_template_gives_the_functions():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]

    assert {variable: variables[variable] for variable in TABLE_ENV_VARS.values()} == {
        variable: {"Ref": logical_id} for logical_id, variable in TABLE_ENV_VARS.items()
    }
    assert set(TABLE_ENV_VARS) == set(TABLES)
    assert {QUEUE_ID, DEAD_LETTER_QUEUE_ID, CHANGES_FAILED_QUEUE_ID} == set(QUEUES)


# --- DynamoDB Local engine ------------------------------------------------------------------------


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: no packet is sent, only a route is chosen
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_dynamodb_local_listens_on_loopback_only(dynamodb_local_endpoint):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, _port(dynamodb_local_endpoint)), timeout=2).close()


def test_dynamodb_local_keeps_its_state_on_disk_across_restarts(tmp_path, moto_endpoint):
    names = ResourceNames.from_env({}).prefixed("disk-")
    with DynamoDBLocalEngine(state_dir=tmp_path / "state") as engine:
        first = provision(dynamodb_endpoint=engine.endpoint, sqs_endpoint=moto_endpoint, names=names)
        dynamodb_client(engine.endpoint).put_item(
            TableName=first.tables["UsersTable"], Item={"id": {"S": "u"}}
        )
        endpoint = engine.endpoint
    with pytest.raises(ConnectionRefusedError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", _port(endpoint)), timeout=2).close()

    with DynamoDBLocalEngine(state_dir=tmp_path / "state") as engine:
        again = provision(dynamodb_endpoint=engine.endpoint, sqs_endpoint=moto_endpoint, names=names)
        item = dynamodb_client(engine.endpoint).get_item(
            TableName=first.tables["UsersTable"], Key={"id": {"S": "u"}}
        )

    assert again == first
    assert item["Item"] == {"id": {"S": "u"}}


def test_dynamodb_local_engine_says_how_to_install_it(tmp_path: Path):
    with pytest.raises(EngineError, match="make dynamodb-local"):
        DynamoDBLocalEngine(install_dir=tmp_path).start()


def test_dynamodb_local_engine_reports_a_failed_start_with_its_output(tmp_path: Path):
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"not a jar")

    with pytest.raises(EngineError, match=r"exited with code 1(.|\n)*zip END header not found"):
        DynamoDBLocalEngine(install_dir=tmp_path).start()
