"""Building the long-lived objects of a function (clients, bound models) from its configuration."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config as BotocoreConfig

from clerk_sync import extensions
from clerk_sync.cleanup import Cleaner
from clerk_sync.config import Config, WorkerConfig
from clerk_sync.delivery import DeliveryProcessor
from clerk_sync.mailer import Mailer
from clerk_sync.models import bind_models
from clerk_sync.queue import SideEffectsQueue
from clerk_sync.receiver import Receiver
from clerk_sync.store import Store
from clerk_sync.worker import Worker

# Well inside Svix's 15 s and the function's timeout: fail fast, let Svix retry.
CLIENT_CONFIG = BotocoreConfig(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass(frozen=True)
class Endpoints:
    """Explicit AWS endpoints (local engines); None means the standard resolution (AWS_ENDPOINT_URL…)."""

    dynamodb: str | None = None
    sqs: str | None = None
    ses: str | None = None
    region: str | None = None


EventHook = tuple[str, Callable[..., Any]]


def build_receiver(
    config: Config, endpoints: Endpoints = Endpoints(), hooks: Sequence[EventHook] = ()
) -> Receiver:
    """The webhook receiver with its clients, created once per container.

    `hooks` are botocore event handlers registered on every client (tests count AWS calls with them).
    """
    region = endpoints.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    dynamodb = session.client("dynamodb", endpoint_url=endpoints.dynamodb, config=CLIENT_CONFIG)
    sqs = session.client("sqs", endpoint_url=endpoints.sqs, config=CLIENT_CONFIG)
    models = bind_models(config.tables, region=session.region_name, host=endpoints.dynamodb, client=dynamodb)
    persistence = DynamoDBPersistenceLayer(table_name=config.tables.idempotency, boto3_client=dynamodb)
    for client in (dynamodb, sqs):
        for event_name, hook in hooks:
            client.meta.events.register(event_name, hook)
    store = Store(models, dynamodb)
    processor = DeliveryProcessor(store, SideEffectsQueue(sqs, config.side_effects_queue_url), persistence)
    return Receiver(signing_keys=config.signing_keys, processor=processor)


def build_worker(
    config: WorkerConfig, endpoints: Endpoints = Endpoints(), hooks: Sequence[EventHook] = ()
) -> Worker:
    """The side-effects worker with its clients, created once per container."""
    region = endpoints.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    session = boto3.session.Session(region_name=region)
    dynamodb = session.client("dynamodb", endpoint_url=endpoints.dynamodb, config=CLIENT_CONFIG)
    ses = session.client("sesv2", endpoint_url=endpoints.ses, config=CLIENT_CONFIG)
    for client in (dynamodb, ses):
        for event_name, hook in hooks:
            client.meta.events.register(event_name, hook)
    models = bind_models(config.tables, region=session.region_name, host=endpoints.dynamodb, client=dynamodb)
    mailer = (
        Mailer(ses, dynamodb, config.tables.idempotency, config.sender_email) if config.sender_email else None
    )
    extensions.load(config.extension_modules)
    persistence = DynamoDBPersistenceLayer(table_name=config.tables.idempotency, boto3_client=dynamodb)
    return Worker(Cleaner(models), mailer, persistence)
