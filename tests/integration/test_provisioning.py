"""Provisioning from template.yaml on moto and on DynamoDB Local; the engines themselves."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from clerk_sync.settings import DEFAULT_QUEUE_NAME, DEFAULT_TABLES
from clerk_sync_local.emulator.engines import DynamoDBLocalEngine, EngineError, dynamodb_client
from clerk_sync_local.stack.provision import (
    DEAD_LETTER_QUEUE_ID,
    QUEUE_ID,
    TABLE_ENV_VARS,
    Provisioned,
    ResourceNames,
    provision,
)
from clerk_sync_local.stack.template import load_template, resources

TEMPLATE = load_template()
TABLES = resources(TEMPLATE, "AWS::DynamoDB::Table")
QUEUES = resources(TEMPLATE, "AWS::SQS::Queue")


def _queue_urls(provisioned: Provisioned) -> dict[str, str]:
    return {QUEUE_ID: provisioned.queue_url, DEAD_LETTER_QUEUE_ID: provisioned.dead_letter_queue_url}


def _by_name(indexes: list[Any], name_key: str = "IndexName") -> dict[str, Any]:
    return {index[name_key]: index for index in indexes}


@pytest.fixture(scope="module")
def provisioned(backend) -> Provisioned:
    return backend.fresh("provisioning")


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
    provisioned = backend.fresh("test_x[dynamodb-local-UsersTable] " + "long" * 30)

    assert provisioned.queue_url.endswith("-clerk-sync-side-effects")
    assert all(name.startswith("test_x-dynamodb-local-UsersTable-") for name in provisioned.tables.values())


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


def test_resource_names_follow_the_environment():
    names = ResourceNames.from_env({"SESSIONS_TABLE": "my-sessions", "SIDE_EFFECTS_QUEUE_NAME": "my-queue"})

    assert names.tables["SessionsTable"] == "my-sessions"
    assert names.tables["UsersTable"] == "clerk-sync-users"
    assert (names.queue, names.dead_letter_queue) == ("my-queue", "my-queue-dlq")


def test_table_variables_are_the_ones_the_template_gives_the_functions():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]

    assert {variable: variables[variable] for variable in TABLE_ENV_VARS.values()} == {
        variable: {"Ref": logical_id} for logical_id, variable in TABLE_ENV_VARS.items()
    }
    assert set(TABLE_ENV_VARS) == set(TABLES)
    assert {QUEUE_ID, DEAD_LETTER_QUEUE_ID} == set(QUEUES)


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
