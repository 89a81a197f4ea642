"""Checking a planned write against what the PynamoDB models store, before anything is written.

The expected type of every stored attribute is read from the model classes themselves (attribute
classes, table keys, index keys), so the models stay the one statement of the schema. What DynamoDB
refuses beyond the types (measured on moto and DynamoDB Local, see docs/deployment.md): numbers that are
not finite, have more than 38 digits or lie outside 1e-130 ≤ |n| < 1e126 (and, stored, cannot be read
back at 1e38 or more); empty strings in key or index-key attributes, and keys over 2,048 bytes
(partition) or 1,024 (sort); empty map keys; values nested deeper than 32 levels (the item counting as
one); items over 400 KB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from clerk_sync.adapters.dynamodb.models import Models
from clerk_sync.domain.key_limits import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from clerk_sync.domain.tables import Table
from clerk_sync.domain.writes import Write

MAX_DIGITS = 38
SMALLEST = Decimal("1E-130")
# DynamoDB stores numbers up to 1e126, but returns them with every digit (6.4e105 comes back as 106
# digits), and boto3 reads at most 38 significant digits (decimal.Rounded otherwise): a number is
# storable only if it can be read back.
TOO_LARGE = Decimal("1E+38")
MAX_NESTING = 31  # containers inside one attribute value: DynamoDB's 32 levels count the item itself
# DynamoDB's limit is 400 KB (measured ≈409.6 KB on AWS, 405,000 bytes in moto): stay below both.
MAX_ITEM_BYTES = 400_000

EXPECTED_TEXT = "expected a string"
EXPECTED_KEY = "expected a non-empty string"
EXPECTED_NUMBER = "expected a number DynamoDB can store and return (finite, at most 38 digits, below 1e38)"
EXPECTED_BOOLEAN = "expected true or false"
EXPECTED_LIST = "expected a list"
EXPECTED_OBJECT = "expected an object"
EXPECTED_BYTES = "expected bytes"  # only the planner sets binary attributes: a bug, never Clerk's data


class UnstorablePayloadError(Exception):
    """A verified event whose data the schema cannot store: a permanent problem (answer 400).

    `reason` names the field and what was expected, never the value (bodies carry personal data).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def storable_number(value: object) -> bool:
    """A JSON number DynamoDB stores and reads back as it was written (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return len(str(abs(value))) <= MAX_DIGITS
    if value != value or value in (float("inf"), float("-inf")):
        return False
    magnitude = abs(Decimal(repr(value)))  # the digits PynamoDB sends (json.dumps of a float is repr)
    return magnitude == 0 or SMALLEST <= magnitude < TOO_LARGE


def _text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (JSON "\ud800") cannot be sent
        return False
    return True


def _raw_problem(value: object, depth: int) -> str | None:
    """What DynamoDB refuses in a free-form JSON value (a raw MapAttribute's content), if anything."""
    if isinstance(value, dict | list):
        if depth > MAX_NESTING:
            return f"nested deeper than {MAX_NESTING + 1} levels"
        if isinstance(value, dict):
            if any(not _text(key) or not key for key in value):
                return "holds an empty or unencodable key"
            children: list[object] = list(value.values())
        else:
            children = value
        for child in children:
            problem = _raw_problem(child, depth + 1)
            if problem:
                return problem
        return None
    if value is None or isinstance(value, bool) or _text(value):
        return None
    if isinstance(value, int | float):
        return None if storable_number(value) else "holds a number DynamoDB cannot store"
    return "holds a value DynamoDB cannot store"


def _problem(attribute: Attribute[Any], value: object, path: str, depth: int = 1) -> str | None:
    """`path: what was expected` when `value` does not fit `attribute`, else None."""
    if isinstance(attribute, UnicodeAttribute):
        return None if _text(value) else f"{path}: {EXPECTED_TEXT}"
    if isinstance(attribute, NumberAttribute):
        return None if storable_number(value) else f"{path}: {EXPECTED_NUMBER}"
    if isinstance(attribute, BooleanAttribute):
        return None if isinstance(value, bool) else f"{path}: {EXPECTED_BOOLEAN}"
    if isinstance(attribute, BinaryAttribute):
        return None if isinstance(value, bytes) else f"{path}: {EXPECTED_BYTES}"
    if isinstance(attribute, ListAttribute):
        if not isinstance(value, list):
            return f"{path}: {EXPECTED_LIST}"
        element = attribute.element_type
        if element is None:
            problem = _raw_problem(value, depth)
            return f"{path}: {problem}" if problem else None
        for index, item in enumerate(value):
            found = _problem(element(), item, f"{path}.{index}", depth + 1)
            if found:
                return found
        return None
    if isinstance(attribute, MapAttribute):
        if not isinstance(value, dict):
            return f"{path}: {EXPECTED_OBJECT}"
        if type(attribute) is MapAttribute:  # raw: free-form JSON
            problem = _raw_problem(value, depth)
            return f"{path}: {problem}" if problem else None
        fields = type(attribute).get_attributes()
        for name, inner in value.items():
            if name not in fields:
                return f"{path}: holds a field the schema does not store"
            if inner is not None:
                found = _problem(fields[name], inner, f"{path}.{name}", depth + 1)
                if found:
                    return found
        return None
    raise TypeError(f"no check for {type(attribute).__name__}")  # a new attribute class in models.py


def item_size(value: object) -> int:
    """An upper bound of DynamoDB's size of a value (attribute names and strings in UTF-8 bytes)."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        return len(repr(value)) + 1
    if isinstance(value, dict):
        return 3 + sum(item_size(k) + 1 + item_size(v) for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(1 + item_size(v) for v in value)
    return len(repr(value))


@dataclass(frozen=True)
class _TableSchema:
    attributes: Mapping[str, Attribute[Any]]
    keys: Mapping[str, int]
    """Table and index key attributes (non-empty strings), each with its UTF-8 byte limit."""


def _schema(model: type[Model]) -> _TableSchema:
    keys: dict[str, int] = {}
    roles = [(model._hash_keyname, True), (model._range_keyname, False)]
    for index in model._indexes.values():
        roles.extend(
            (name, attr.is_hash_key)
            for name, attr in index.Meta.attributes.items()
            if attr.is_hash_key or attr.is_range_key
        )
    for name, is_partition in roles:
        if name:
            limit = MAX_PARTITION_KEY_BYTES if is_partition else MAX_SORT_KEY_BYTES
            keys[name] = min(limit, keys.get(name, limit))
    return _TableSchema(attributes=model.get_attributes(), keys=keys)


class SchemaCheck:
    """Refuses a write whose item the table's model cannot store, naming the field as the event has it."""

    def __init__(self, models: Models) -> None:
        self._tables = {table: _schema(models.for_table(table)) for table in Table}

    def check(self, write: Write) -> None:
        """Raises UnstorablePayloadError when `write.item` does not fit its table's model."""
        schema = self._tables[write.table]
        for name, value in write.item.items():
            attribute = schema.attributes.get(name)
            if attribute is None:
                raise TypeError(f"{write.table}: {name} is not in the model")  # records and models disagree
            source = write.sources.get(name, f"data.{name}")
            if name in schema.keys:
                if not _text(value) or not value:
                    raise UnstorablePayloadError(f"{source}: {EXPECTED_KEY}")
                if len(value.encode("utf-8")) > schema.keys[name]:
                    raise UnstorablePayloadError(
                        f"{source}: longer than a key holds ({schema.keys[name]} bytes)"
                    )
            problem = _problem(attribute, value, source)
            if problem:
                raise UnstorablePayloadError(problem)
        sizes = {name: len(name.encode("utf-8")) + item_size(value) for name, value in write.item.items()}
        if sum(sizes.values()) > MAX_ITEM_BYTES:
            largest = max(sizes, key=lambda name: sizes[name])
            source = write.sources.get(largest, f"data.{largest}")
            raise UnstorablePayloadError(f"{source}: too large (the record would exceed DynamoDB's 400 KB)")
