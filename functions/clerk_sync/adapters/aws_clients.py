"""AWS clients for the functions: one botocore session, quick to create, shared settings and hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotocoreConfig
from botocore.loaders import Loader

from clerk_sync.adapters.aws_services import SERVICES
from clerk_sync.settings import aws_region

# Well inside Svix's 15 s and the function's timeout: fail fast, let the sender retry.
CLIENT_CONFIG = BotocoreConfig(
    connect_timeout=2, read_timeout=3, retries={"max_attempts": 3, "mode": "standard"}
)

# SES v2 and SNS take no idempotency token: a SendEmail or Publish retried after a lost answer is a
# second e-mail or SMS. One attempt per call, and a longer wait for the answer (a timeout leaves the
# outcome unknown).
SINGLE_ATTEMPT_CONFIG = CLIENT_CONFIG.merge(
    BotocoreConfig(read_timeout=10, retries={"total_max_attempts": 1, "mode": "standard"})
)

EventHook = tuple[str, Callable[..., Any]]


class KnownServicesLoader(Loader):
    """botocore's data loader, told which services exist instead of scanning for them.

    Before loading its first service model, botocore lists every service it ships (≈2,800 stat and
    listdir calls, ≈20–35 ms of each cold start). These functions only ever use `SERVICES`.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        """The services these functions use (the models still load from botocore's data)."""
        return list(SERVICES)


@dataclass(frozen=True)
class Endpoints:
    """Explicit AWS endpoints (local engines); None means the standard resolution (AWS_ENDPOINT_URL…)."""

    dynamodb: str | None = None
    sqs: str | None = None
    ses: str | None = None
    sns: str | None = None
    secretsmanager: str | None = None
    events: str | None = None
    region: str | None = None


@dataclass
class Clients:
    """Creates clients from one session, registering the given botocore event hooks on each."""

    endpoints: Endpoints = field(default_factory=Endpoints)
    hooks: Sequence[EventHook] = ()
    session: boto3.session.Session = field(init=False)

    def __post_init__(self) -> None:
        core = botocore.session.get_session()
        core.register_component("data_loader", KnownServicesLoader())
        region = self.endpoints.region or aws_region()
        self.session = boto3.session.Session(botocore_session=core, region_name=region)

    @property
    def region(self) -> str | None:
        """The session's region."""
        return self.session.region_name

    def client(self, service: str, config: BotocoreConfig = CLIENT_CONFIG) -> Any:
        """A client for one of `SERVICES`, at its explicit endpoint if any."""
        endpoint = getattr(self.endpoints, service.removesuffix("v2"), None)
        made = self.session.client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]
        for event_name, hook in self.hooks:
            made.meta.events.register(event_name, hook)
        return made


class LazyClient:
    """A client made at its first use: for a service a function calls only on rare paths (the worker's
    queue: long clean-ups' continuations, throttled e-mails), so that the cold start does not pay for it."""

    def __init__(self, clients: Clients, service: str) -> None:
        self._clients = clients
        self._service = service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._clients.client(self._service)
        return getattr(self._client, name)
