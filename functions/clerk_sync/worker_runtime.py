"""Building the SideEffectsFunction's long-lived objects (clients, bound models) from its configuration."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from clerk_sync import extensions
from clerk_sync.cleanup import Cleaner
from clerk_sync.cleanup_parts import CleanupParts
from clerk_sync.clients import Clients, Endpoints, EventHook
from clerk_sync.config import WorkerConfig
from clerk_sync.mailer import Mailer
from clerk_sync.models import bind_models
from clerk_sync.queue import SideEffectsQueue
from clerk_sync.worker import Worker


def build_worker(
    config: WorkerConfig, endpoints: Endpoints | None = None, hooks: Sequence[EventHook] = ()
) -> Worker:
    """The side-effects worker with its clients, created once per container."""
    endpoints = endpoints or Endpoints()
    clients = Clients(endpoints, hooks)
    dynamodb, ses = clients.client("dynamodb"), clients.client("sesv2")
    models = bind_models(config.tables, region=clients.region, host=endpoints.dynamodb, client=dynamodb)
    mailer = (
        Mailer(ses, dynamodb, config.tables.idempotency, config.sender_email) if config.sender_email else None
    )
    extensions.load(config.extension_modules)
    persistence = DynamoDBPersistenceLayer(table_name=config.tables.idempotency, boto3_client=dynamodb)
    queue = SideEffectsQueue(clients.client("sqs"), config.side_effects_queue_url)
    return Worker(CleanupParts(Cleaner(models), queue, config.cleanup), mailer, persistence)
