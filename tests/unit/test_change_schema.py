"""schemas/clerk-sync-change.schema.json is the schema made from the declaration (`make schema` rewrites
it, this test fails while it is stale); every event the change feed makes validates against it (every
bundled sample's and Clerk spec example's write, and a backfilled plan, as created, updated and deleted
changes, with full records, keys only, and complete objects or records left out for size); and it
refuses malformed events, as `clerk_sync.read.parse` does."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from change_events import MALFORMED, Produced, event, every_change
from clerk_sync.domain import changes as domain
from clerk_sync.domain.changes import ChangeDetail
from clerk_sync.domain.tables import TABLES
from clerk_sync.read import NotAChangeError, parse
from clerk_sync.read.changes import OMITTABLE
from clerk_sync_local.change_schema import DETAIL_TYPES, SCHEMA_PATH, schema, text
from jsonschema import Draft202012Validator

CHANGES = every_change()
VALIDATOR = Draft202012Validator(
    json.loads(SCHEMA_PATH.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
)
NOT_EXPRESSIBLE = {"a record of another key"}
"""What `parse` refuses that JSON Schema cannot say (a record's key equal to the detail's)."""


def errors(sent: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(sent)]


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == text(), "run `make schema`"
    Draft202012Validator.check_schema(schema())


def test_the_schema_names_every_entity_change_and_omitted_part():
    assert [
        f"{s.entity}.{k}" for s in TABLES.values() for k in ("created", "updated", "deleted")
    ] == DETAIL_TYPES
    made = schema()
    assert set(made["$defs"]) == {"detail", *(spec.entity for spec in TABLES.values())}
    assert set(made["$defs"]["detail"]["properties"]["omitted"]["items"]["enum"]) == OMITTABLE


@pytest.mark.parametrize("produced", CHANGES, ids=lambda p: p.label)
def test_every_event_the_feed_makes_validates(produced: Produced):
    change = produced.change
    for contents in ChangeDetail:
        assert errors(event(change, contents)) == [], (produced.label, contents)


def test_events_with_parts_left_out_for_size_validate():
    checked = set()
    for produced in CHANGES[::3]:
        change = produced.change
        whole = domain.entry_size(change.detail_type, domain.detail(change, ChangeDetail.FULL))
        keys = domain.entry_size(change.detail_type, domain.detail(change, ChangeDetail.KEYS))
        for limit in (whole - 1, (whole + keys) // 2, keys + 1, keys):
            sent = event(change, ChangeDetail.FULL, limit)
            assert errors(sent) == [], (produced.label, limit)
            parse(sent)
            checked.update(sent["detail"]["omitted"])
    assert checked == OMITTABLE


def user_creation() -> dict[str, Any]:
    produced = next(p for p in CHANGES if p.label == "sample:user.updated:created")
    return event(produced.change)


@pytest.mark.parametrize("case", sorted(set(MALFORMED) - NOT_EXPRESSIBLE))
def test_the_schema_refuses_what_parse_refuses(case: str):
    make, _ = MALFORMED[case]
    sent = make(copy.deepcopy(user_creation()))
    assert errors(sent), case
    with pytest.raises(NotAChangeError):
        parse(sent)


def test_a_malformed_event_is_refused_where_it_is_wrong():
    sent = user_creation()
    sent["detail"]["new"]["banned"] = "yes"
    sent["detail"]["key"] = {"id": "user_1", "email": "x"}
    found = errors(sent)
    assert any(e.startswith("detail/new/banned") for e in found), found
    assert any(e.startswith("detail/key") for e in found), found
    for case in NOT_EXPRESSIBLE:
        make, _ = MALFORMED[case]
        assert errors(make(copy.deepcopy(user_creation()))) == []


def test_fields_a_later_version_adds_still_validate():
    sent = user_creation()
    sent["detail"]["new"]["stored_from_2027"] = {"any": "thing"}
    sent["detail"]["new"]["clerk"]["favorite_color_2027"] = "teal"
    sent["detail"]["sent_from_2027"] = 1
    assert errors(sent) == []
