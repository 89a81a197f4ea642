"""PynamoDB models of the synced tables, made from their declaration (domain/tables.py): one per table,
with its key, its attributes and its indexes; nothing about a table is written here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from clerk_sync.adapters.dynamodb.pynamodb_internals import bound_model, share_client
from clerk_sync.domain.tables import BOOKKEEPING, TABLES, Field, FieldType, Index, Table, TableSpec
from clerk_sync.settings import Tables


class Versioned(Model):
    """A synced record: the attributes every one carries are declared in `tables.BOOKKEEPING`."""


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _attribute(field: Field, owner: str) -> Attribute[Any]:
    """The PynamoDB attribute storing `field`."""
    simple: Mapping[FieldType, type[Attribute[Any]]] = {
        FieldType.TEXT: UnicodeAttribute,
        FieldType.NUMBER: NumberAttribute,
        FieldType.FLAG: BooleanAttribute,
    }
    if field.type in simple:
        return simple[field.type](null=not field.required)
    if field.type is FieldType.MAP:
        return MapAttribute[str, Any](null=True)
    if field.type is FieldType.TEXTS:
        return ListAttribute(of=UnicodeAttribute, null=True)
    if field.type is FieldType.COMPRESSED:
        return BinaryAttribute(legacy_encoding=False, null=True)
    record = _map_of(field, owner)
    return record(null=True) if field.type is FieldType.RECORD else ListAttribute(of=record, null=True)


def _map_of(field: Field, owner: str) -> type[MapAttribute[str, Any]]:
    """The map attribute class of a RECORD or RECORDS field, with its declared attributes."""
    name = f"{owner}{_camel(field.name)}"
    attributes = {inner.name: _attribute(inner, name) for inner in field.fields}
    return type(name, (MapAttribute,), {"__doc__": f"{owner}.{field.name}.", **attributes})


def _index(owner: str, index: Index) -> GlobalSecondaryIndex[Any]:
    """The global secondary index `index` (all attributes projected)."""
    meta = type("Meta", (), {"index_name": index.name, "projection": AllProjection()})
    keys: dict[str, Attribute[Any]] = {index.hash_key: UnicodeAttribute(hash_key=True)}
    if index.range_key is not None:
        keys[index.range_key] = UnicodeAttribute(range_key=True)
    doc = f"{owner} by {', '.join(index.key_names)}."
    cls = type(
        f"{owner}{_camel(index.name)}", (GlobalSecondaryIndex,), {"__doc__": doc, "Meta": meta, **keys}
    )
    return cls()


def _model(spec: TableSpec) -> type[Versioned]:
    """The model class of one synced table, named as its default table."""
    owner = _camel(spec.table.value)
    keys: dict[str, Attribute[Any]] = {spec.key_names[0]: UnicodeAttribute(hash_key=True)}
    if len(spec.key_names) > 1:
        keys[spec.key_names[1]] = UnicodeAttribute(range_key=True)
    attributes = {f.name: _attribute(f, owner) for f in (*BOOKKEEPING, *spec.fields)}
    indexes = {index.name.replace("-", "_"): _index(owner, index) for index in spec.indexes}
    meta = type("Meta", (), {"table_name": spec.default_name})
    body = {"__doc__": f"A record of table `{spec.table.value}`.", "Meta": meta}
    return type(f"{owner}Record", (Versioned,), {**body, **attributes, **keys, **indexes})


RECORDS: Mapping[Table, type[Versioned]] = {table: _model(spec) for table, spec in TABLES.items()}
"""The model of each synced table (a test proves template.yaml agrees with them)."""


M = TypeVar("M", bound=Model)


def _bind(model: type[M], table_name: str, region: str | None, host: str | None) -> type[M]:
    settings: dict[str, object] = {
        "table_name": table_name,
        "connect_timeout_seconds": 2,
        "read_timeout_seconds": 3,
        "max_retry_attempts": 2,
    }
    if region:
        settings["region"] = region
    if host:
        settings["host"] = host
    meta = type("Meta", (), settings)
    return bound_model(model, meta)


@dataclass(frozen=True)
class Models:
    """The model classes bound to one deployment's table names and endpoint."""

    bound: Mapping[Table, type[Versioned]]

    def all(self) -> tuple[type[Versioned], ...]:
        """Every bound model."""
        return tuple(self.bound.values())

    def for_table(self, table: Table) -> type[Versioned]:
        """The model class of a synced table."""
        return self.bound[table]


def bind_models(
    tables: Tables, region: str | None = None, host: str | None = None, client: Any = None
) -> Models:
    """Model classes for these table names (host None: the standard AWS endpoint resolution).

    `client`: a botocore DynamoDB client for every model to share. PynamoDB would otherwise create a
    botocore session and client per model class, loading the DynamoDB service model each time: one
    shared client, made at init, keeps that off the cold start and the first request.
    """
    models = Models(
        {table: _bind(record, tables.name_of(table), region, host) for table, record in RECORDS.items()}
    )
    if client is not None:
        for model in models.all():
            share_client(model, client)
    return models
