"""What adapters/dynamodb/pynamodb_internals.py relies on in PynamoDB's private attributes: an upgrade
that changes them fails here, not in production."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from clerk_sync.adapters.dynamodb.pynamodb_internals import bound_model, share_client
from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.connection.table import TableConnection
from pynamodb.models import Model

REGION = "us-east-1"


class Record(Model):
    class Meta:
        table_name = "records"
        region = REGION
        host = "http://127.0.0.1:1"

    id = UnicodeAttribute(hash_key=True)


def meta(host: str) -> type:
    return type("Meta", (), {"table_name": Record.Meta.table_name, "region": REGION, "host": host})


def counting_client() -> tuple[Any, list[str]]:
    """A DynamoDB client (with credentials, or PynamoDB replaces it) answering every call itself,
    with the names of the operations it was asked for."""
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
    calls: list[str] = []

    def answer(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        calls.append(model.name)
        return AWSResponse("http://answered.invalid", 200, {}, None), {}

    client.meta.events.register("before-call.dynamodb.*", answer)
    return client, calls


def test_a_fresh_connection_has_no_client_until_first_use():
    connection = Connection(region=REGION)
    assert connection._client is None
    made = connection.client
    assert connection._client is made


def test_a_model_caches_its_connection_on_the_class():
    assert "_connection" in vars(Model) and Model._connection is None
    connection = Record._get_connection()
    assert isinstance(connection, TableConnection) and isinstance(connection.connection, Connection)
    assert Record._connection is connection
    assert Record._get_connection() is connection


def test_a_bound_model_does_not_inherit_its_parents_connection():
    parent = Record._get_connection()
    bound = bound_model(Record, meta("http://127.0.0.1:2"))
    assert bound._get_connection() is not parent
    assert bound._get_connection().connection.host == "http://127.0.0.1:2"


def test_a_model_sends_through_the_shared_client():
    client, calls = counting_client()
    bound = bound_model(Record, meta("http://127.0.0.1:3"))
    share_client(bound, client)
    assert bound._get_connection().connection.client is client
    with pytest.raises(bound.DoesNotExist):
        bound.get("user_1")
    assert calls == ["GetItem"]


def test_a_connection_sends_through_the_shared_client():
    client, calls = counting_client()
    connection = Connection(region=REGION, host="http://127.0.0.1:4")
    share_client(connection, client)
    assert connection.client is client
    connection.describe_table("records")
    assert calls == ["DescribeTable"]
