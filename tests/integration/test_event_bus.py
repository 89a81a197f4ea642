"""Publishing change events to EventBridge (moto's, over a socket): calls within PutEvents' limits,
refused entries and refused calls sent again, and what could not be published reported, never dropped."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest
from bus_faults import BusFaults
from clerk_sync.adapters.aws_clients import Clients, Endpoints
from clerk_sync.adapters.eventbridge import MAX_ENTRIES, Entry, EventBus
from clerk_sync.domain.changes import MAX_ENTRY_BYTES, SOURCE
from clerk_sync.domain.deadline import Deadline

REGION = "us-east-1"


class Bus:
    """A bus on moto with a catch-all rule keeping every event in a log group."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.name = f"changes-{uuid.uuid4().hex[:8]}"
        self.group = f"/test/{self.name}"
        events = boto3.client("events", endpoint_url=endpoint, region_name=REGION)
        self.logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION)
        events.create_event_bus(Name=self.name)
        self.logs.create_log_group(logGroupName=self.group)
        events.put_rule(Name="all", EventBusName=self.name, EventPattern=json.dumps({"source": [SOURCE]}))
        arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{self.group}"
        events.put_targets(Rule="all", EventBusName=self.name, Targets=[{"Id": "keep", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        pages = self.logs.get_paginator("filter_log_events").paginate(logGroupName=self.group)
        return [json.loads(e["message"]) for page in pages for e in page["events"]]

    def wait_for(self, count: int, seconds: float) -> list[dict[str, Any]]:
        """What arrived once `count` events have (or when `seconds` pass)."""
        deadline = time.monotonic() + seconds
        while True:
            got = self.received()
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def publisher(endpoint: str, bus: Bus, hooks: list[Any] | None = None) -> tuple[EventBus, list[int]]:
    """An EventBus on `bus` and the sizes of the PutEvents calls it makes."""
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["Entries"]))
        assert sum(Entry(e["DetailType"], e["Detail"]).size for e in params["Entries"]) <= MAX_ENTRY_BYTES

    hook = ("provide-client-params.events.PutEvents", count)
    clients = Clients(Endpoints(events=endpoint, region=REGION), [hook, *(hooks or [])])
    return EventBus(clients.client("events"), bus.name, sleep=lambda s: time.sleep(min(s, 0.05))), calls


def entries(count: int, size: int = 100) -> list[Entry]:
    return [Entry("user.updated", json.dumps({"id": f"e{n}", "pad": "x" * size})) for n in range(count)]


def ids(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["detail"]["id"] for e in events)


@pytest.fixture
def bus(moto_endpoint: str) -> Bus:
    return Bus(moto_endpoint)


def test_every_entry_arrives_in_calls_within_the_limits(moto_endpoint, bus):
    put, calls = publisher(moto_endpoint, bus)
    sent = entries(23) + entries(3, size=100_000)  # three of ≈100 KB: no two more in one call
    assert put.put(sent, Deadline(time.monotonic() + 30)) == set()
    assert ids(bus.wait_for(len(sent), 10)) == ids([{"detail": json.loads(e.detail)} for e in sent])
    assert calls == [MAX_ENTRIES, MAX_ENTRIES, 5, 1]  # 3 small + 2 large fit in 256 KB, not a third


def test_refused_entries_are_sent_again_until_every_one_is_in(moto_endpoint, bus):
    faults = BusFaults(seed=7, entry_refusal=0.3)
    put, _ = publisher(moto_endpoint, bus, faults.hooks())
    sent = entries(40)
    assert put.put(sent, Deadline(time.monotonic() + 30)) == set()
    assert faults.refused_entries >= 5
    got = ids(bus.wait_for(len(sent), 10))
    assert set(got) == {f"e{n}" for n in range(40)} and set(got.values()) == {1}  # each once


def test_a_bus_refusing_for_a_while_delays_the_events_and_loses_none(moto_endpoint, bus):
    faults = BusFaults(seed=1)
    faults.down.set()
    put, _ = publisher(moto_endpoint, bus, faults.hooks())
    threading.Timer(0.5, faults.down.clear).start()
    assert put.put(entries(12), Deadline(time.monotonic() + 30)) == set()
    assert faults.refused_calls >= 2
    assert len(ids(bus.wait_for(12, 10))) == 12


def test_what_the_deadline_leaves_unpublished_is_reported(moto_endpoint, bus):
    faults = BusFaults(seed=2)
    faults.down.set()
    put, _ = publisher(moto_endpoint, bus, faults.hooks())
    assert put.put(entries(12), Deadline(time.monotonic() + 0.3)) == set(range(12))
    assert bus.received() == []
