"""Building a `Backfill` from settings: the Clerk SDK client, the DynamoDB client, the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config as BotocoreConfig

from clerk_sync.adapters.aws_clients import Clients, Endpoints, EventHook
from clerk_sync.adapters.clerk.api import ClerkApi
from clerk_sync.adapters.clerk.retry import RetryPolicy
from clerk_sync.adapters.dynamodb.models import bind_models
from clerk_sync.adapters.dynamodb.store import Store
from clerk_sync.backfill.journal import Journal
from clerk_sync.backfill.report import Progress, SilentProgress
from clerk_sync.backfill.run import Backfill
from clerk_sync.backfill.stored import StoredRecords
from clerk_sync.settings import DEFAULT_API_URL, DEFAULT_WORKERS, Tables


@dataclass(frozen=True)
class Settings:
    """Everything a backfill needs to know."""

    secret_key: str
    tables: Tables
    api_url: str = DEFAULT_API_URL
    endpoints: Endpoints = field(default_factory=Endpoints)
    workers: int = DEFAULT_WORKERS
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    local_credentials: bool = False  # dummy AWS credentials, for local engines that accept any
    complete_objects: bool = True  # records keep Clerk's complete object (STORE_COMPLETE_OBJECTS)


def dynamodb_config(workers: int) -> BotocoreConfig:
    """A batch job's client: patient adaptive retries (throttling), a connection per writer thread."""
    return BotocoreConfig(
        connect_timeout=5,
        read_timeout=20,
        retries={"max_attempts": 10, "mode": "adaptive"},
        max_pool_connections=max(10, workers + 2),
    )


def _dynamodb(settings: Settings, hooks: Sequence[EventHook]) -> Any:
    """The run's DynamoDB client; `hooks`: botocore handlers on it (tests count calls)."""
    endpoints = settings.endpoints
    local_key = "test" if settings.local_credentials else None
    dynamodb = Clients(endpoints).session.client(
        "dynamodb",
        endpoint_url=endpoints.dynamodb,
        config=dynamodb_config(settings.workers),
        aws_access_key_id=local_key,
        aws_secret_access_key=local_key,
    )
    for event_name, hook in hooks:
        dynamodb.meta.events.register(event_name, hook)
    return dynamodb


def build_journal(settings: Settings, hooks: Sequence[EventHook] = ()) -> Journal:
    """The run records alone (`--status`: no Clerk API needed)."""
    return Journal(_dynamodb(settings, hooks), settings.tables.idempotency)


def build_backfill(
    settings: Settings, progress: Progress | None = None, hooks: Sequence[EventHook] = ()
) -> Backfill:
    """A Backfill over these tables, recording its runs in the idempotency table."""
    progress = progress or SilentProgress()
    dynamodb = _dynamodb(settings, hooks)
    models = bind_models(
        settings.tables, region=dynamodb.meta.region_name, host=settings.endpoints.dynamodb, client=dynamodb
    )
    api = ClerkApi(settings.secret_key, settings.api_url, settings.retry, on_wait=progress.waiting)
    return Backfill(
        api,
        StoredRecords(dynamodb, settings.tables),
        Store(models, dynamodb, settings.complete_objects),
        progress,
        settings.workers,
        journal=Journal(dynamodb, settings.tables.idempotency),
    )
