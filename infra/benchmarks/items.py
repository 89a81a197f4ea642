"""The size of the record each delivery stores, without and with Clerk's complete object
(`StoreCompleteObjects`), and the write units a put of it costs, for the bundled samples and for Clerk's
published example payloads: measured from the event-type function's write, no engine needed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clerk_sync.adapters.dynamodb.schema_check import item_size
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types

from benchmarks.cost import item_units

SVIX_ID = "msg_2Ml9Xvq2ZG4MzAOUQklImCvBPt4"  # a delivery's id as Svix makes them (stored as `svix_id`)
SPEC_EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "clerk_spec_examples"
"""Clerk's published example payloads (webhooks/2025-04-15.yml; tests/clerk_spec_examples.py)."""


@dataclass(frozen=True)
class RecordSize:
    """One event type's stored record, in bytes as DynamoDB counts them."""

    event_type: str
    without: int  # the typed attributes only (`StoreCompleteObjects=false`)
    with_object: int  # and Clerk's complete object, compressed

    @property
    def units_without(self) -> int:
        return item_units(self.without)

    @property
    def units_with(self) -> int:
        return item_units(self.with_object)


def item_bytes(item: dict[str, Any]) -> int:
    """A record's size (attribute names and values, as schema_check bounds it)."""
    return sum(len(name.encode("utf-8")) + item_size(value) for name, value in item.items())


def record_size(envelope: dict[str, Any]) -> RecordSize | None:
    """The record a delivery of `envelope` writes, without and with the complete object; None for a type
    that writes no live record (a deletion's tombstone, an e-mail or SMS)."""
    write = changes_of(parse_event(json.dumps(envelope).encode(), SVIX_ID, 0)).write
    if write is None or write.tombstone:
        return None
    typed = {name: value for name, value in write.item.items() if name != CLERK}
    return RecordSize(str(envelope["type"]), item_bytes(typed), item_bytes(write.item))


def _sizes(paths: list[Path]) -> list[RecordSize]:
    sizes = (record_size(json.loads(path.read_bytes())) for path in paths)
    return [size for size in sizes if size is not None]


def sample_sizes() -> list[RecordSize]:
    """Every bundled sample's record (infra/clerk_sync_local/samples/)."""
    return _sizes([SAMPLES_DIR / f"{t}.json" for t in sample_types()])


def example_sizes() -> list[RecordSize]:
    """The record of each of Clerk's published example payloads (SPEC_EXAMPLES_DIR)."""
    return _sizes(sorted(SPEC_EXAMPLES_DIR.glob("*.json")))


def size_lines(sizes: list[RecordSize], source: str = "the bundled samples") -> list[str]:
    """The report's section: per type, bytes and write units without and with the complete object."""
    lines = [
        f"## Record size per event type ({source})",
        "",
        "The item each payload's delivery writes, as DynamoDB counts its size (attribute names and values), "
        "and the write units a put of it costs (one per started KB): with `StoreCompleteObjects=false` "
        "(typed attributes only) and with Clerk's complete object (the default; zlib with a preset "
        "dictionary of Clerk's object shapes, domain/complete.py).",
        "",
        "| event type | typed attributes only | write units | with the complete object | write units |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.event_type} | {s.without:,} B | {s.units_without} | {s.with_object:,} B | {s.units_with} |"
        for s in sizes
    ]
    one = sum(s.units_with == 1 for s in sizes)
    return [*lines, "", f"With the complete object, {one} of {len(sizes)} types fit in one write unit.", ""]
