"""The embedded moto server: bounded memory under long runs, e-mails still on record."""

import gc
import uuid

import boto3
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.sqs.models import Message

REGION = "us-east-1"


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

    dynamodb.transact_write_items(  # moto deep-copies every table a transaction touches, to roll back
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
