"""Change events as the change feed publishes them, built from real writes: every bundled webhook sample
and every example payload of Clerk's spec goes through the receiver's planners (as
tests/unit/test_declaration.py does), and a backfilled plan through backfill's; each write's item is
stored the way DynamoDB holds it, read back as a stream image (ChangesFunction's view) and as an item
(the read library's), and turned into its created, updated and deleted changes by domain/changes.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from clerk_spec_examples import spec_example, spec_example_types
from clerk_sync.adapters.dynamodb.values import deserialize as stream_deserialize
from clerk_sync.domain.changes import (
    MAX_ENTRY_BYTES,
    SOURCE,
    Change,
    ChangeDetail,
    change_of,
    detail,
    encode,
)
from clerk_sync.domain.entities.plans import plan_write
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK, TABLES, Table
from clerk_sync.domain.writes import Write
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types

ACCOUNT = "123456789012"
REGION = "us-east-1"
TIME = "2026-12-08T02:11:16Z"
SECRET = "ann.secret@example.com"
"""Put where a malformed event has a value: no refusal's message may hold it."""
_serialize = TypeSerializer().serialize
_item_deserialize = TypeDeserializer().deserialize

PLAN = {
    "object": "commerce_plan",
    "id": "cplan_2wMZhx6kKq0rNn2Ew0oTnOvQq1a",
    "name": "Pro",
    "slug": "pro",
    "description": "For teams",
    "for_payer_type": "org",
    "is_default": False,
    "is_recurring": True,
    "publicly_visible": True,
    "amount": 2000,
    "features": [
        {"object": "feature", "id": "feat_1", "name": "Exports", "slug": "exports", "description": "CSV"},
        {"object": "feature", "id": "feat_2", "name": "SSO", "slug": "sso", "description": None},
    ],
}
"""A plan as the Backend API lists it (`GET /billing/plans`): backfill is what writes the plans table."""


def sample_writes() -> dict[str, Write]:
    """Every write a bundled webhook sample makes (`sample:<type>`), every write an example of Clerk's
    spec makes (`spec:<type>`) and a backfilled plan (`backfill:plan`), by label."""
    writes: dict[str, Write] = {}
    for event_type in sample_types():
        body = (SAMPLES_DIR / f"{event_type}.json").read_bytes()
        write = changes_of(parse_event(body, "msg_sample", 0)).write
        if write is not None:
            writes[f"sample:{event_type}"] = write
    for event_type in spec_example_types():
        body = json.dumps(spec_example(event_type)).encode()
        write = changes_of(parse_event(body, "msg_spec", 0)).write
        if write is not None:
            writes[f"spec:{event_type}"] = write
    writes["backfill:plan"] = plan_write(PLAN, "backfill:run_1", 1_765_000_000_000)
    return writes


def _dynamodb_value(value: Any) -> Any:
    """A Python value as boto3 writes it (numbers as Decimal)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {key: _dynamodb_value(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamodb_value(inner) for inner in value]
    return value


def stored(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as DynamoDB holds it (attribute values)."""
    return {name: _serialize(_dynamodb_value(value)) for name, value in item.items() if value is not None}


def as_image(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as a stream record's image reaches ChangesFunction (adapters/dynamodb/streams.py)."""
    return {name: stream_deserialize(value) for name, value in stored(item).items()}


def as_read(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as the read library gets it from GetItem or Query (boto3's types: Decimal, Binary)."""
    return {name: _item_deserialize(value) for name, value in stored(item).items()}


def _older(item: Mapping[str, Any], version: int) -> dict[str, Any]:
    older = {**item, "version": version, "svix_id": "msg_older"}
    if "updated_at" in older:
        older["updated_at"] = version
    return older


def _tombstone(write: Write, version: int) -> dict[str, Any]:
    return {**write.key, "deleted": True, "deleted_at": version, "version": version, "svix_id": "msg_gone"}


@dataclass(frozen=True)
class Produced:
    """One change of a sample's write, with the items before and after (None: absent or a tombstone)."""

    label: str
    change: Change
    old_item: dict[str, Any] | None
    new_item: dict[str, Any] | None


def changes_of_write(label: str, write: Write) -> Iterator[Produced]:
    """The changes a write takes part in: for a live item, its creation, an update from an older
    version and its deletion; for a tombstone, the deletion of an older live version."""
    table = write.table
    if write.tombstone:
        live = {**write.key, "version": write.version - 1, "svix_id": "msg_live"}
        yield _produced(f"{label}:deleted", table, live, write.item)
        return
    older = _older(write.item, write.version - 1)
    yield _produced(f"{label}:created", table, None, write.item)
    yield _produced(f"{label}:updated", table, older, write.item)
    yield _produced(f"{label}:deleted", table, write.item, _tombstone(write, write.version + 1))
    yield _produced(f"{label}:removed", table, write.item, None)


def _produced(label: str, table: Table, old: dict[str, Any] | None, new: dict[str, Any] | None) -> Produced:
    change = change_of(
        table, as_image(old) if old is not None else None, as_image(new) if new is not None else None
    )
    assert change is not None, label
    live_old = old if old is not None and not old.get("deleted") else None
    live_new = new if new is not None and not new.get("deleted") else None
    return Produced(label, change, live_old, live_new)


def every_change() -> list[Produced]:
    """Every sample's and spec example's changes (and the plan's)."""
    return [
        produced for label, write in sample_writes().items() for produced in changes_of_write(label, write)
    ]


def event(
    change: Change, contents: ChangeDetail = ChangeDetail.FULL, limit: int = MAX_ENTRY_BYTES
) -> dict[str, Any]:
    """The EventBridge event a rule's target receives for the change (the detail as PutEvents sent it)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": change.detail_type,
        "source": SOURCE,
        "account": ACCOUNT,
        "time": TIME,
        "region": REGION,
        "resources": [],
        "detail": json.loads(encode(detail(change, contents, limit))),
    }


def sqs_record(body: Mapping[str, Any]) -> dict[str, Any]:
    """The SQS record a Lambda on a queue receives when the queue is the rule's target."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "rh-1",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1765159876000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:on-change",
        "awsRegion": REGION,
    }


def entities_covered(changes: list[Produced]) -> set[str]:
    """The entities (domain/tables.py) the changes are of."""
    return {TABLES[p.change.table].entity for p in changes}


Mutation = Callable[[dict[str, Any]], dict[str, Any]]


def malformed() -> dict[str, tuple[Mutation, str]]:
    """Ways a user's creation event (full records) is made no clerk-sync change: what is done to it,
    and the words `parse`'s refusal names."""

    def setter(path: tuple[str, ...], value: Any) -> Mutation:
        def change(sent: dict[str, Any]) -> dict[str, Any]:
            target = sent
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            return sent

        return change

    def dropper(path: tuple[str, ...]) -> Mutation:
        def change(sent: dict[str, Any]) -> dict[str, Any]:
            target = sent
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]
            return sent

        return change

    return {
        "another source": (setter(("source",), SECRET), "source"),
        "no detail-type": (dropper(("detail-type",)), "detail-type"),
        "an unknown entity": (setter(("detail-type",), f"{SECRET}.created"), "detail-type"),
        "an unknown change": (setter(("detail-type",), "user.renamed"), "detail-type"),
        "a detail of text": (setter(("detail",), SECRET), "detail"),
        "another entity in the detail": (setter(("detail", "entity"), "organization"), "detail"),
        "another table": (setter(("detail", "table"), SECRET), "detail.table"),
        "an id that is no UUID": (setter(("detail", "id"), SECRET), "detail.id"),
        "a key of the wrong names": (setter(("detail", "key"), {"email": SECRET}), "detail.key"),
        "a key of a number": (setter(("detail", "key", "id"), 7), "detail.key"),
        "a version of text": (setter(("detail", "version"), SECRET), "detail.version"),
        "a boolean version": (setter(("detail", "version"), True), "detail.version"),
        "a previous version of text": (setter(("detail", "previous_version"), SECRET), "previous_version"),
        "a written_by number": (setter(("detail", "written_by"), 5), "written_by"),
        "changed not a list": (setter(("detail", "changed"), SECRET), "detail.changed"),
        "an unknown omitted part": (setter(("detail", "omitted"), [SECRET]), "detail.omitted"),
        "a record of text": (setter(("detail", "new"), SECRET), "detail.new"),
        "a record of another key": (setter(("detail", "new", "id"), SECRET), "detail.new"),
        "a record without a version": (dropper(("detail", "new", "version")), "detail.new.version"),
        "an e-mail of a number": (setter(("detail", "new", "email"), 12), "detail.new.email"),
        "a flag of text": (setter(("detail", "new", "banned"), SECRET), "detail.new.banned"),
        "metadata of text": (setter(("detail", "new", "public_metadata"), SECRET), "public_metadata"),
        "addresses of text": (setter(("detail", "new", "email_addresses"), [SECRET]), "email_addresses"),
        "an address of a number": (
            setter(("detail", "new", "email_addresses"), [{"email_address": 3}]),
            "detail.new.email_addresses[0].email_address",
        ),
        "a complete object of text": (setter(("detail", "new", CLERK), SECRET), "detail.new.clerk"),
        "a time that is no time": (setter(("time",), SECRET), "time"),
        "a creation with an old record": (setter(("detail", "old"), {"id": "x"}), "detail.old"),
        "a creation without its record": (setter(("detail", "new"), None), "detail.new"),
    }


MALFORMED = malformed()
"""By name: (mutation, words of the refusal)."""
