"""`clerk-sync send`'s bundled samples are sent as of now: every time they hold moves with the envelope's
`timestamp`, billing periods and payment dates included, so a sample means today what it was written
to mean (a canceled subscription item still grants its plan until its period ends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.read.billing import SubscriptionItem
from clerk_sync_local.cli.send import SAMPLES_DIR, freshen, sample_types

NOW_MS = 1_900_000_000_000  # 2030-03-17: years after every sample was written


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES_DIR / f"{name}.json").read_text())


def times(value: Any, path: str = "") -> Iterator[tuple[str, int]]:
    """Every integer that reads as a time in ms (2001 to 2286), by its path."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from times(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from times(inner, f"{path}.{index}")
    elif type(value) is int and 10**12 <= value < 10**13:
        yield path, value


@pytest.mark.parametrize("name", sample_types())
def test_every_time_in_a_sample_moves_with_its_timestamp(name: str) -> None:
    original = load(name)
    shift = NOW_MS - original["timestamp"]
    fresh = dict(times(freshen(original, NOW_MS)))
    assert {path: at + shift for path, at in times(original)} == fresh


def test_a_canceled_items_sample_grants_its_plan_until_its_period_ends() -> None:
    payload = freshen(load("subscriptionItem.canceled"), NOW_MS)
    write = changes_of(parse_event(json.dumps(payload).encode(), "msg_1", NOW_MS // 1000)).write
    assert write is not None
    item = SubscriptionItem.from_item(write.item)
    assert item.status == "canceled" and item.period_end is not None
    assert item.grants(NOW_MS) and not item.grants(item.period_end)
