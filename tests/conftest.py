"""Shared fixtures: local AWS engines (moto, DynamoDB Local) and freshly provisioned resources."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from clerk_sync_local.emulator.engines import (
    DynamoDBLocalEngine,
    MotoEngine,
    dynamodb_client,
    events_client,
    logs_client,
    sqs_client,
    streams_client,
)
from clerk_sync_local.stack.provision import Provisioned, ResourceNames, provision
from stacks import Stack, make_stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
MAX_PREFIX = 40
# The change feed's parameter as tests provision by default: off. Nothing reads the synced tables' streams
# in most tests, and both engines keep every stream record for as long as they run (moto in memory, with
# the item images): the chaos runs' hundreds of thousands of writes would all be kept. Tests of the feed
# ask for it (`fresh(..., feed=True)`).
FEED_OFF = {"CHANGE_FEED": "false"}
FEED_ON = {"CHANGE_FEED": "true"}

# Dummy credentials for the whole session, set before any test module creates a client, so that no test
# can ever reach a real AWS account (and a developer's AWS_PROFILE cannot break client creation).
for _variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_variable, None)
os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION)


@dataclass(frozen=True)
class Backend:
    """Where tests talk to DynamoDB and SQS. SQS is always moto's: DynamoDB Local has none."""

    name: str
    dynamodb_endpoint: str
    sqs_endpoint: str
    region: str = REGION

    def names(self, names_prefix: str) -> ResourceNames:
        """The default resource names behind a unique prefix, so that tests never share data.

        Any text will do as `names_prefix` (e.g. a test's node name): it is reduced to the characters
        and length that queue names allow (at most 80 in all).
        """
        readable = re.sub(r"[^A-Za-z0-9_-]+", "-", names_prefix)[:MAX_PREFIX]
        return ResourceNames.from_env({}).prefixed(f"{readable}-{uuid.uuid4().hex[:8]}-")

    def provision(self, names: ResourceNames, environ: dict[str, str] | None = None) -> Provisioned:
        """Provision `names`, the template's parameters set by `environ` (default: the feed off)."""
        return provision(
            dynamodb_endpoint=self.dynamodb_endpoint,
            sqs_endpoint=self.sqs_endpoint,
            names=names,
            region=self.region,
            environ=FEED_OFF if environ is None else environ,
        )

    def fresh(self, names_prefix: str = "test", feed: bool = False) -> Provisioned:
        """A complete new set of the template's tables and queues; with `feed`, the change feed too
        (streams on the synced tables, the bus, its archive and on-failure queue)."""
        return self.provision(self.names(names_prefix), FEED_ON if feed else FEED_OFF)

    def dynamodb(self) -> DynamoDBClient:
        return dynamodb_client(self.dynamodb_endpoint, self.region)

    def sqs(self) -> SQSClient:
        return sqs_client(self.sqs_endpoint, self.region)

    def streams(self) -> Any:
        """DynamoDB Streams, on the DynamoDB engine."""
        return streams_client(self.dynamodb_endpoint, self.region)

    def events(self) -> Any:
        """EventBridge (moto's, beside SQS)."""
        return events_client(self.sqs_endpoint, self.region)

    def logs(self) -> Any:
        """CloudWatch Logs (moto's, beside SQS)."""
        return logs_client(self.sqs_endpoint, self.region)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with MotoEngine() as engine:
        yield engine.endpoint


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    with DynamoDBLocalEngine() as engine:
        yield engine.endpoint


@pytest.fixture(scope="session", params=["moto", "dynamodb-local"])
def backend(request: pytest.FixtureRequest, moto_endpoint: str) -> Backend:
    """Both DynamoDB engines in turn; DynamoDB Local only starts when a test asks for it."""
    dynamodb_endpoint = (
        moto_endpoint if request.param == "moto" else request.getfixturevalue("dynamodb_local_endpoint")
    )
    return Backend(name=request.param, dynamodb_endpoint=dynamodb_endpoint, sqs_endpoint=moto_endpoint)


@pytest.fixture
def stack(backend: Backend, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A webhook receiver with its own fresh tables and queue, on each backend."""
    yield make_stack(backend, request.node.name)
