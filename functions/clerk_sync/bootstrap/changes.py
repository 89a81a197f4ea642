"""Building the ChangesFunction's long-lived objects (the EventBridge client) from its configuration."""

from __future__ import annotations

from collections.abc import Sequence

from clerk_sync.adapters.aws_clients import Clients, Endpoints, EventHook
from clerk_sync.adapters.eventbridge import EventBus
from clerk_sync.app.changes import ChangePublisher
from clerk_sync.settings import ChangesConfig


def build_publisher(
    config: ChangesConfig, endpoints: Endpoints | None = None, hooks: Sequence[EventHook] = ()
) -> ChangePublisher:
    """The change publisher with its client, created once per container."""
    clients = Clients(endpoints or Endpoints(), hooks)
    bus = EventBus(clients.client("events"), config.bus_name)
    return ChangePublisher(bus, config.table_of(), config.contents)
