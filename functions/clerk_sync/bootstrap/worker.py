"""Building the SideEffectsFunction's long-lived objects (clients, bound models) from its configuration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from clerk_sync.adapters.aws_clients import SINGLE_ATTEMPT_CONFIG, Clients, Endpoints, EventHook, LazyClient
from clerk_sync.adapters.dynamodb.cleanup import Cleaner
from clerk_sync.adapters.dynamodb.models import bind_models
from clerk_sync.adapters.dynamodb.payloads import PayloadStore
from clerk_sync.adapters.ses import Mailer
from clerk_sync.adapters.sns import TextMessenger
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.app import extensions
from clerk_sync.app.cleanup import CleanupParts
from clerk_sync.app.effects_worker import Worker
from clerk_sync.domain.tables import Table
from clerk_sync.settings import WorkerConfig

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def build_worker(
    config: WorkerConfig, endpoints: Endpoints | None = None, hooks: Sequence[EventHook] = ()
) -> Worker:
    """The side-effects worker with its clients, created once per container."""
    endpoints = endpoints or Endpoints()
    clients = Clients(endpoints, hooks)
    dynamodb = clients.client("dynamodb")
    models = bind_models(config.tables, region=clients.region, host=endpoints.dynamodb, client=dynamodb)
    mailer = None
    if config.sender_email:
        mailer = Mailer(
            clients.client("sesv2", SINGLE_ATTEMPT_CONFIG),
            dynamodb,
            config.tables.idempotency,
            config.sender_email,
            max_send_rate=config.ses_max_send_rate,
            max_concurrency=config.max_concurrency,
        )
    texter = None
    if config.sms is not None:  # the SNS client (its model parsed) only for a worker that sends SMS
        texter = TextMessenger(
            clients.client("sns", SINGLE_ATTEMPT_CONFIG),
            dynamodb,
            config.tables.idempotency,
            origination_number=config.sms.origination_number,
            sender_id=config.sms.sender_id,
        )
    queue = SideEffectsQueue(cast("SQSClient", LazyClient(clients, "sqs")), config.side_effects_queue_url)
    extensions.load(config.extension_modules)
    persistence = DynamoDBPersistenceLayer(table_name=config.tables.idempotency, boto3_client=dynamodb)
    payloads = PayloadStore(dynamodb, config.tables.idempotency)
    cleanups = CleanupParts(Cleaner(models), queue, config.cleanup)
    return Worker(cleanups, mailer, persistence, models.for_table(Table.USERS), payloads, queue, texter)
