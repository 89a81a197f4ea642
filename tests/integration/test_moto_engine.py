"""The embedded moto server: bounded memory under long runs, transactions that cost the same whatever
the tables' sizes and still roll back, e-mails still on record."""

import gc
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.backends import get_backend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.sqs.models import Message

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account for any access key it does not know


def test_items_and_messages_are_not_kept_for_the_dashboard(moto_endpoint):
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    table = f"engine-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName=f"engine-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for n in range(50):
        dynamodb.put_item(TableName=table, Item={"id": {"S": "same"}, "n": {"N": str(n)}})
        sqs.send_message(QueueUrl=queue, MessageBody=str(n))

    dynamodb.transact_write_items(  # a transaction once kept a copy of each table it touched
        TransactItems=[{"Put": {"TableName": table, "Item": {"id": {"S": "other"}}}}]
    )
    gc.collect()

    assert len(Item.instances_tracked) == 0  # 51 versions of two items, none kept beyond the table
    assert len(Table.instances_tracked) == 0  # nor the transaction's backup of the table
    assert len(Message.instances_tracked) == 0
    stored = dynamodb.get_item(TableName=table, Key={"id": {"S": "same"}})["Item"]
    assert stored["n"] == {"N": "49"}
    assert (
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "50"
    )


def _tables(dynamodb, suffix):
    """A table with a sort key and one without, with one item each."""
    pairs, singles = f"pairs-{suffix}", f"singles-{suffix}"
    dynamodb.create_table(
        TableName=pairs,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=singles,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=pairs, Item={"pk": {"S": "u"}, "sk": {"S": "kept"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName=singles, Item={"id": {"S": "kept"}, "n": {"N": "1"}})
    return pairs, singles


def _everything(dynamodb, *tables):
    return {table: sorted(map(str, dynamodb.scan(TableName=table)["Items"])) for table in tables}


def _writes(pairs, singles):
    """A new item in a new partition, a new item beside a stored one, an update and a replacement."""
    return [
        {"Put": {"TableName": pairs, "Item": {"pk": {"S": "new"}, "sk": {"S": "a"}}}},
        {"Put": {"TableName": pairs, "Item": {"pk": {"S": "u"}, "sk": {"S": "b"}}}},
        {
            "Update": {
                "TableName": pairs,
                "Key": {"pk": {"S": "u"}, "sk": {"S": "kept"}},
                "UpdateExpression": "SET n = :n",
                "ExpressionAttributeValues": {":n": {"N": "99"}},
            }
        },
        {"Put": {"TableName": singles, "Item": {"id": {"S": "kept"}, "n": {"N": "2"}}}},
        {"Put": {"TableName": singles, "Item": {"id": {"S": "fresh"}}}},
    ]


@pytest.mark.parametrize("failure", ["condition", "same item twice"])
def test_a_cancelled_transaction_leaves_every_item_as_it_was(moto_endpoint, failure):
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    pairs, singles = _tables(dynamodb, uuid.uuid4().hex[:8])
    backend = get_backend("dynamodb")[ACCOUNT][REGION]
    table_objects = {name: backend.tables[name] for name in (pairs, singles)}
    before = _everything(dynamodb, pairs, singles)
    failing = (
        {
            "ConditionCheck": {
                "TableName": singles,
                "Key": {"id": {"S": "absent"}},
                "ConditionExpression": "attribute_exists(id)",
            }
        }
        if failure == "condition"
        else {"Put": {"TableName": pairs, "Item": {"pk": {"S": "new"}, "sk": {"S": "a"}}}}
    )

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[*_writes(pairs, singles), failing])

    assert raised.value.response["Error"]["Code"] in {"TransactionCanceledException", "ValidationException"}
    assert _everything(dynamodb, pairs, singles) == before
    # Rolled back item by item: the tables were neither copied nor replaced.
    assert all(backend.tables[name] is table for name, table in table_objects.items())


def test_a_transaction_that_succeeds_applies_every_write(moto_endpoint):
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    pairs, singles = _tables(dynamodb, uuid.uuid4().hex[:8])

    dynamodb.transact_write_items(TransactItems=_writes(pairs, singles))

    assert dynamodb.get_item(TableName=pairs, Key={"pk": {"S": "new"}, "sk": {"S": "a"}}).get("Item")
    assert dynamodb.get_item(TableName=pairs, Key={"pk": {"S": "u"}, "sk": {"S": "b"}}).get("Item")
    kept = dynamodb.get_item(TableName=pairs, Key={"pk": {"S": "u"}, "sk": {"S": "kept"}})["Item"]
    assert kept["n"] == {"N": "99"}
    assert dynamodb.get_item(TableName=singles, Key={"id": {"S": "kept"}})["Item"]["n"] == {"N": "2"}
    assert dynamodb.get_item(TableName=singles, Key={"id": {"S": "fresh"}}).get("Item")


def test_ses_get_account_answers_a_sending_quota(moto_endpoint):
    """The worker paces e-mails to GetAccount's MaxSendRate; moto itself does not implement it."""
    ses = boto3.client("sesv2", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert ses.get_account()["SendQuota"]["MaxSendRate"] == 14.0
    assert ses.list_email_identities()["ResponseMetadata"]["HTTPStatusCode"] == 200  # the rest is moto's


def _stream_records(moto_endpoint: str, table: str) -> list[str]:
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name=REGION)
    arn = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION).describe_table(
        TableName=table
    )["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [record["dynamodb"]["NewImage"]["id"]["S"] for record in records]


def test_a_cancelled_transaction_leaves_nothing_in_the_streams(moto_endpoint):
    """What the change feed reads: only the writes that were applied."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    table = f"streamed-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.put_item(TableName=table, Item={"id": {"S": "before"}})
    cancelled = [
        {"Put": {"TableName": table, "Item": {"id": {"S": "never"}}}},
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": {"id": {"S": "absent"}},
                "ConditionExpression": "attribute_exists(id)",
            }
        },
    ]
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=cancelled)
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"id": {"S": "after"}}}}]
    )

    assert _stream_records(moto_endpoint, table) == ["before", "after"]
