"""Building the WebhookFunction's long-lived objects (clients, bound models) from its configuration."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from clerk_sync.adapters.aws_clients import Clients, Endpoints, EventHook
from clerk_sync.adapters.dynamodb.models import bind_models
from clerk_sync.adapters.dynamodb.payloads import PayloadStore
from clerk_sync.adapters.dynamodb.store import Store
from clerk_sync.adapters.http import HttpEdge
from clerk_sync.adapters.signing_keys import (
    DEFAULT_MAX_AGE_SECONDS,
    SecretsManagerKeys,
    SigningKeys,
    static_keys,
)
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.app.delivery import DeliveryProcessor
from clerk_sync.app.receiver import Receiver
from clerk_sync.settings import Config


def build_receiver(
    config: Config,
    endpoints: Endpoints | None = None,
    hooks: Sequence[EventHook] = (),
    secret_max_age: int = DEFAULT_MAX_AGE_SECONDS,
) -> HttpEdge:
    """The webhook receiver with its clients behind its HTTP edge, created once per container.

    `hooks` are botocore event handlers registered on every client (tests count AWS calls with them).
    `secret_max_age`: seconds a Secrets Manager value is cached (when the keys come from there).
    """
    endpoints = endpoints or Endpoints()
    clients = Clients(endpoints, hooks)
    dynamodb, sqs = clients.client("dynamodb"), clients.client("sqs")
    models = bind_models(config.tables, region=clients.region, host=endpoints.dynamodb, client=dynamodb)
    persistence = DynamoDBPersistenceLayer(table_name=config.tables.idempotency, boto3_client=dynamodb)
    store = Store(models, dynamodb, config.store_complete_objects)
    queue = SideEffectsQueue(
        sqs, config.side_effects_queue_url, PayloadStore(dynamodb, config.tables.idempotency)
    )
    processor = DeliveryProcessor(store, queue, persistence)
    return HttpEdge(Receiver(signing_keys=signing_keys(config, clients, secret_max_age), processor=processor))


def signing_keys(config: Config, clients: Clients, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> SigningKeys:
    """The configured keys, or (no CLERK_WEBHOOK_SIGNING_SECRET) the secret, read on first use."""
    if config.signing_keys or config.signing_secret_arn is None:
        return static_keys(config.signing_keys)
    return SecretsManagerKeys(config.signing_secret_arn, clients.client("secretsmanager"), max_age=max_age)
