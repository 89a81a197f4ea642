"""The JSON Schema of the change feed's events, made from the one declaration (domain/tables.py).

`python -m clerk_sync_local.change_schema` (`make schema`) writes schemas/clerk-sync-change.schema.json;
tests/unit/test_change_schema.py fails while the committed file is anything else, and validates the
events domain/changes.py makes against it.

The schema describes the event as a rule's target receives it (EventBridge's envelope, `detail` as
domain/changes.py builds it). Each entity's record is a definition of its own (`$defs/<entity>`): its
key and version required, every declared attribute typed from its `FieldType`, personal ones marked
`"x-personal": true`. Which record a detail holds is chosen by the event's `detail-type` with `if`/`then`
(one branch per entity, and one per change): a failing event is then reported against its own entity's
record, where a `oneOf` over thirteen records would only say that none matched. Records and the detail
allow attributes they do not declare, so that the events of a later clerk-sync that stores or sends
more still validate (`clerk_sync.read.parse` ignores them; Clerk's own fields are all in `clerk`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from clerk_sync.domain.changes import SOURCE, ChangeKind
from clerk_sync.domain.tables import BOOKKEEPING, CLERK, TABLES, Field, FieldType, TableSpec

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "clerk-sync-change.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
OMITTABLE = ("old.clerk", "new.clerk", "old", "new")
"""What a detail's `omitted` may name, in the order domain/changes.py leaves them out."""
DETAIL_TYPES = [f"{spec.entity}.{kind.value}" for spec in TABLES.values() for kind in ChangeKind]
"""Every event's `detail-type`: `<entity>.<change>`."""
_RECORD_EXTRAS = tuple(f for f in BOOKKEEPING if f.name in ("created_at", "updated_at", CLERK))
"""What every live record may carry besides its key, version and declared fields."""
_TYPES: dict[FieldType, dict[str, Any]] = {
    FieldType.TEXT: {"type": "string"},
    FieldType.NUMBER: {"type": "number"},
    FieldType.FLAG: {"type": "boolean"},
    FieldType.MAP: {"type": "object"},
    FieldType.TEXTS: {"type": "array", "items": {"type": "string"}},
    FieldType.COMPRESSED: {
        "type": "object",
        "description": "Clerk's complete object as stored (but the keys clerk-sync never stores).",
    },
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, null also allowed (an attribute absent and one read as null mean the same)."""
    return {**schema, "type": [schema["type"], "null"]}


def _field(field: Field) -> dict[str, Any]:
    if field.type is FieldType.RECORD:
        schema: dict[str, Any] = {"type": "object", "properties": _properties(field.fields)}
    elif field.type is FieldType.RECORDS:
        inner = {"type": "object", "properties": _properties(field.fields)}
        schema = {"type": "array", "items": inner}
    else:
        schema = dict(_TYPES[field.type])
    schema = _nullable(schema)
    if field.personal:
        schema["x-personal"] = True
    return schema


def _properties(fields: tuple[Field, ...]) -> dict[str, Any]:
    return {field.name: _field(field) for field in fields}


def _key(spec: TableSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "minLength": 1} for name in spec.key_names},
        "required": list(spec.key_names),
        "additionalProperties": False,
    }


def record(spec: TableSpec) -> dict[str, Any]:
    """The live record of a table, as an event's `new` and `old` hold it (the read library's shape)."""
    declared = tuple(f for f in spec.fields if f.name not in spec.key_names)
    properties = {
        **{name: {"type": "string", "minLength": 1} for name in spec.key_names},
        "version": {"type": "integer"},
        **_properties(_RECORD_EXTRAS),
        **_properties(declared),
    }
    return {
        "title": f"{spec.entity} (table {spec.table.value})",
        "type": "object",
        "properties": properties,
        "required": [*spec.key_names, "version"],
        "additionalProperties": True,
    }


def _when_present(reference: str) -> dict[str, Any]:
    """The record `reference` when not null (`$defs/detail` allows an object or null): a record's error
    is then reported at its attribute, not as "none of null and the record"."""
    return {"if": {"type": "object"}, "then": {"$ref": reference}}


def _detail() -> dict[str, Any]:
    """What every detail holds, whatever its entity."""
    return {
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "Stable per (table, key, version, state): de-duplicate on it.",
            },
            "entity": {"enum": [spec.entity for spec in TABLES.values()]},
            "change": {"enum": [kind.value for kind in ChangeKind]},
            "table": {"enum": [spec.table.value for spec in TABLES.values()]},
            "key": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            "version": {"type": "integer", "description": "The version this change stored: order by it."},
            "previous_version": {"type": ["integer", "null"]},
            "written_by": {"type": ["string", "null"]},
            "new": {"type": ["object", "null"]},
            "old": {"type": ["object", "null"]},
            "changed": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "omitted": {"type": "array", "items": {"enum": list(OMITTABLE)}, "uniqueItems": True},
        },
        "required": [
            "id",
            "entity",
            "change",
            "table",
            "key",
            "version",
            "previous_version",
            "written_by",
            "new",
            "old",
            "changed",
            "omitted",
        ],
    }


def _entity_rule(spec: TableSpec) -> dict[str, Any]:
    """An event of the entity holds its table's key and records."""
    reference = f"#/$defs/{spec.entity}"
    return {
        "if": {"properties": {"detail-type": {"enum": [f"{spec.entity}.{k.value}" for k in ChangeKind]}}},
        "then": {
            "properties": {
                "detail": {
                    "properties": {
                        "entity": {"const": spec.entity},
                        "table": {"const": spec.table.value},
                        "key": _key(spec),
                        "new": _when_present(reference),
                        "old": _when_present(reference),
                    }
                }
            }
        },
    }


def _missing_unless_omitted(part: str) -> dict[str, Any]:
    """A record that is null is listed in `omitted`."""
    return {
        "if": {"properties": {part: {"type": "null"}}},
        "then": {"properties": {"omitted": {"contains": {"const": part}}}},
    }


def _change_rule(kind: ChangeKind) -> dict[str, Any]:
    """What each change holds: a creation no `old`, a deletion no `new`; a record a creation or an
    update has is there unless `omitted` names it."""
    detail: dict[str, Any] = {"properties": {"change": {"const": kind.value}}}
    if kind is ChangeKind.CREATED:
        detail["properties"]["old"] = {"type": "null"}
        detail["allOf"] = [_missing_unless_omitted("new")]
    elif kind is ChangeKind.UPDATED:
        detail["allOf"] = [_missing_unless_omitted("new"), _missing_unless_omitted("old")]
    else:
        detail["properties"]["new"] = {"type": "null"}
    return {
        "if": {"properties": {"detail-type": {"pattern": f"\\.{kind.value}$"}}},
        "then": {"properties": {"detail": detail}},
    }


def schema() -> dict[str, Any]:
    """The JSON Schema of a change event."""
    return {
        "$schema": DRAFT,
        "title": "clerk-sync change event",
        "description": (
            "One applied change of a synced table, as an EventBridge rule's target receives it from the "
            "clerk-sync stack's change bus. Made from functions/clerk_sync/domain/tables.py by "
            "`make schema`: do not edit. `x-personal`: personal data (or free-form data that may hold "
            "it), absent with ChangeDetail keys."
        ),
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string", "description": "EventBridge's id of this delivery (not the change's)."},
            "detail-type": {
                "enum": [f"{spec.entity}.{k.value}" for spec in TABLES.values() for k in ChangeKind]
            },
            "source": {"const": SOURCE},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": {"$ref": "#/$defs/detail"},
        },
        "required": ["detail-type", "source", "detail"],
        "allOf": [*(_entity_rule(spec) for spec in TABLES.values()), *(_change_rule(k) for k in ChangeKind)],
        "$defs": {"detail": _detail(), **{spec.entity: record(spec) for spec in TABLES.values()}},
    }


def text() -> str:
    """The schema file's content."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema (`--check`: exit 1 if the committed file differs instead)."""
    parser = argparse.ArgumentParser(prog="python -m clerk_sync_local.change_schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    wanted = text()
    if args.check:
        current = SCHEMA_PATH.read_text() if SCHEMA_PATH.exists() else ""
        if current != wanted:
            print(f"{SCHEMA_PATH} is stale: run `make schema`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(exist_ok=True)
    SCHEMA_PATH.write_text(wanted)
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
