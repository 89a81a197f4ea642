"""`clerk-sync dump`: the synced tables (users, organizations, memberships, sessions) as text tables,
or as one JSON object keyed by table name."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from clerk_sync.config import DEFAULT_TABLES

from clerk_sync_local.dev import DEFAULT_REGION, ConnectionInfo

TABLES = ("users", "organizations", "memberships", "sessions")
# What the text view shows (everything is in --json); `version` is shown as a UTC time.
COLUMNS = {
    "users": ("id", "email", "first_name", "last_name", "username", "deleted", "version"),
    "organizations": ("id", "name", "slug", "members_count", "deleted", "version"),
    "memberships": ("organization_id", "user_id", "role", "deleted", "version"),
    "sessions": ("id", "user_id", "status", "deleted", "version"),
}
_deserialize = TypeDeserializer().deserialize
# A client of its own rather than clerk_sync_local.engines': that module loads moto (≈0.5 s).
_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})


class DumpError(Exception):
    """The tables cannot be read (nothing running, wrong endpoint, missing table)."""

    exit_code = 1


@dataclass(frozen=True)
class Source:
    """Where the tables are: a DynamoDB endpoint, a region, and table names keyed by short name."""

    endpoint: str
    region: str
    tables: Mapping[str, str]


def source(endpoint: str | None, region: str | None, state_dir: Path, environ: Mapping[str, str]) -> Source:
    """--endpoint/--region, else the running `clerk-sync dev` (its dev.json), else the environment
    (AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL, AWS_REGION, USERS_TABLE, …)."""
    info = ConnectionInfo.load(state_dir)
    endpoint = (
        endpoint
        or (info.dynamodb_endpoint if info else None)
        or environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        or environ.get("AWS_ENDPOINT_URL")
    )
    if not endpoint:
        raise DumpError(
            f"no running `clerk-sync dev` found (no {state_dir / 'dev.json'}): start one with `make dev`, "
            "or pass --endpoint"
        )
    region = (
        region
        or (info.region if info else None)
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    published = info.tables if info else {}
    names = {}
    for table in TABLES:
        variable = f"{table.upper()}_TABLE"
        names[table] = published.get(variable) or environ.get(variable) or DEFAULT_TABLES[variable]
    return Source(endpoint=endpoint, region=region, tables=names)


def read_tables(where: Source, tables: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every item of each table as plain JSON values, oldest version first."""
    client = boto3.client(
        "dynamodb", endpoint_url=where.endpoint, region_name=where.region, config=_CONFIG,
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {}
    for table in tables:
        name = where.tables[table]
        items: list[dict[str, Any]] = []
        try:
            for page in client.get_paginator("scan").paginate(TableName=name):
                items += [
                    {key: _plain(_deserialize(value)) for key, value in i.items()} for i in page["Items"]
                ]
        except client.exceptions.ResourceNotFoundException:
            raise DumpError(f"table {name} does not exist at {where.endpoint}") from None
        except EndpointConnectionError:
            raise DumpError(
                f"cannot reach DynamoDB at {where.endpoint}: is `clerk-sync dev` running?"
            ) from None
        except (BotoCoreError, ClientError) as error:
            raise DumpError(f"cannot read table {name} at {where.endpoint}: {error}") from None
        out[table] = sorted(
            items, key=lambda item: (item.get("version") or 0, json.dumps(item, sort_keys=True))
        )
    return out


def _plain(value: Any) -> Any:
    """DynamoDB values as JSON values: Decimal -> int or float, sets -> sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(inner) for inner in value)
    return value


def render_text(data: Mapping[str, list[dict[str, Any]]]) -> str:
    """Aligned text tables, one per synced table."""
    blocks = []
    for table, items in data.items():
        columns = COLUMNS[table]
        header = ["version (UTC)" if column == "version" else column for column in columns]
        rows = [[_cell(column, item.get(column)) for column in columns] for item in items]
        widths = [max(len(text) for text in column) for column in zip(header, *rows, strict=False)]
        lines = [f"{table} ({len(items)})"]
        lines += [
            "  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "version" and isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if column == "deleted":
        return "deleted" if value else ""
    return str(value)


def run(tables: Sequence[str], where: Source, *, as_json: bool = False) -> int:
    """Print the tables (all four when none is named)."""
    data = read_tables(where, tables or TABLES)
    print(json.dumps(data, indent=2, default=str) if as_json else render_text(data), flush=True)
    return 0
