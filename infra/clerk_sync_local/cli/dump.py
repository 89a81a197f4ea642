"""`clerk-sync dump`: the synced tables (every one of clerk_sync.domain.tables unless some are named) as
text tables, or as one JSON object keyed by table name; `emails` and `sms`: the e-mails and text
messages the functions sent, as moto captured them; `changes`: the events the change feed's bus received,
as its local catch-all rule kept them in a CloudWatch Logs log group (one line, or one JSON object, each)."""

from __future__ import annotations

import html
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from clerk_sync.adapters.dynamodb.values import deserialize
from clerk_sync.domain.complete import decompress
from clerk_sync.domain.entities.subscription_items import item_version_parts
from clerk_sync.domain.tables import CLERK, Table
from clerk_sync.settings import CHANGES_BUS_ENV

from clerk_sync_local.cli.exit_codes import FAILED
from clerk_sync_local.cli.target import resolve_running
from clerk_sync_local.stack.state import DEFAULT_BUS_NAME, LOCAL_KEY, changes_log_group

TABLES = tuple(table.value for table in Table)
EMAILS = "emails"  # not a table: the e-mails moto's SES captured (only when named)
SMS = "sms"  # not a table: the text messages moto's SNS captured (only when named)
CHANGES = "changes"  # not a table: the events the change feed's bus received (only alone)
CHOICES = (*TABLES, EMAILS, SMS, CHANGES)
FEED_OFF = (
    "the running `clerk-sync dev` has the change feed off (it started with CHANGE_FEED=false): no streams "
    "are read and no bus receives anything; restart it without CHANGE_FEED=false"
)
MOTO_DATA_PATH = "/moto-api/data.json"  # moto's own API: every resource of its backends, as JSON
NO_SENDER_NOTE = (
    "  (none: this stack runs with SENDER_EMAIL empty, so the worker skips every e-mail, outcome "
    "skipped_no_sender; restart it without SENDER_EMAIL= for the local default sender, or with "
    "SENDER_EMAIL=you@example.com)"
)
BODY_PREVIEW = 60  # characters of an e-mail's first line in the text view
_BLOCK_TAG = re.compile(r"</?(?:p|div|br|h[1-6]|li|tr|table|title|head|body|html)\b[^>]*>", re.IGNORECASE)
# What the text view shows of each table (everything is in --json); `version` as what it is: a UTC time,
# and for a subscription item also the rank of its status (entities/subscription_items.py).
COLUMNS = {
    Table.USERS.value: ("id", "email", "first_name", "last_name", "username", "deleted", "version"),
    Table.ORGANIZATIONS.value: ("id", "name", "slug", "members_count", "deleted", "version"),
    Table.MEMBERSHIPS.value: ("organization_id", "user_id", "role", "deleted", "version"),
    Table.SESSIONS.value: ("id", "user_id", "status", "deleted", "version"),
    Table.INVITATIONS.value: (
        "id", "organization_id", "email_address", "role", "status", "deleted", "version",
    ),
    Table.ROLES.value: ("id", "key", "name", "permissions", "deleted", "version"),
    Table.PERMISSIONS.value: ("id", "key", "name", "type", "deleted", "version"),
    Table.DOMAINS.value: (
        "id", "organization_id", "name", "enrollment_mode", "verification_status", "deleted", "version",
    ),
    Table.WAITLIST.value: ("id", "email_address", "status", "invitation_id", "deleted", "version"),
    Table.SUBSCRIPTIONS.value: ("id", "payer_id", "status", "deleted", "version"),
    Table.SUBSCRIPTION_ITEMS.value: (
        "id", "payer_id", "plan", "status", "period_end", "deleted", "version",
    ),
    Table.PAYMENT_ATTEMPTS.value: ("id", "payer_id", "status", "charge_type", "deleted", "version"),
    Table.PLANS.value: ("id", "slug", "for_payer_type", "features", "deleted", "version"),
}  # fmt: skip
TIMES = ("period_end",)  # columns holding a time in ms (besides `version`), shown as UTC times
# A client of its own rather than clerk_sync_local.emulator.engines': that module loads moto (≈0.5 s).
_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})


class DumpError(Exception):
    """The tables cannot be read (nothing running, wrong endpoint, missing table)."""

    exit_code = FAILED


@dataclass(frozen=True)
class Source:
    """Where the tables are (a DynamoDB endpoint, a region, table names keyed by short name) and the
    AWS endpoint whose SES captured the e-mails (moto's)."""

    endpoint: str
    region: str
    tables: Mapping[str, str]
    aws_endpoint: str
    sender_email: str | None = None  # the running stack's SENDER_EMAIL ("" off); None: not known
    changes_log_group: str | None = None  # where the bus's events are kept; None: the feed is off


def source(endpoint: str | None, region: str | None, state_dir: Path, environ: Mapping[str, str]) -> Source:
    """Where the tables are, as every sub-command finds them (cli/target.py); the e-mails are read from
    the same AWS endpoint (moto's, even when the tables are in DynamoDB Local)."""
    target = resolve_running(environ, endpoint, region, state_dir, "pass --endpoint")
    found = target.dynamodb_endpoint
    assert found is not None  # resolve_running: without --aws (dump has none), an endpoint or an error
    if target.dev is not None:
        log_group = target.dev.changes_log_group or None
    else:  # a stack provisioned with these names, its bus named as `clerk-sync dev` names it
        log_group = changes_log_group(environ.get(CHANGES_BUS_ENV) or DEFAULT_BUS_NAME)
    return Source(
        endpoint=found,
        region=target.region,
        tables={table: target.tables.named(table) for table in TABLES},
        aws_endpoint=target.aws_endpoint or found,
        sender_email=target.sender_email if target.dev is not None else None,
        changes_log_group=log_group,
    )


def read_tables(where: Source, tables: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every item of each table as plain JSON values, oldest version first."""
    client = boto3.client(
        "dynamodb", endpoint_url=where.endpoint, region_name=where.region, config=_CONFIG,
        aws_access_key_id=LOCAL_KEY, aws_secret_access_key=LOCAL_KEY,
    )  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {}
    for table in tables:
        name = where.tables[table]
        items: list[dict[str, Any]] = []
        try:
            for page in client.get_paginator("scan").paginate(TableName=name):
                items += [shown_item(i) for i in page["Items"]]
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


def read_emails(aws_endpoint: str) -> list[dict[str, Any]]:
    """The e-mails moto's SES has accepted, oldest first, as moto keeps them: `id`, `source`,
    `destinations` (ToAddresses, CcAddresses, BccAddresses), `subject` and `body` (the HTML part
    when an e-mail has both). Read over HTTP from moto's data API, so from another process too."""
    return _captured(aws_endpoint, "ses", "Message", "e-mails")


def read_sms(aws_endpoint: str) -> list[dict[str, Any]]:
    """The text messages moto's SNS has accepted (Publish to a phone number), oldest first, as moto
    keeps them: `message_id`, `phone_number` and `message`. Read like the e-mails."""
    return _captured(aws_endpoint, "sns", "SMS", "text messages")


def _captured(aws_endpoint: str, service: str, model: str, what: str) -> list[dict[str, Any]]:
    """One kind of moto model instance, from moto's data API (every resource of its backends)."""
    url = aws_endpoint.rstrip("/") + MOTO_DATA_PATH
    not_moto = (
        f"{aws_endpoint} is not a moto server (no {MOTO_DATA_PATH}): {what} are captured only when "
        "`clerk-sync dev` runs on its embedded moto, or on a moto_server given with --aws-endpoint"
    )
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = json.load(response)
    except urllib.error.HTTPError:
        raise DumpError(not_moto) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DumpError(f"cannot reach {aws_endpoint}: {reason} (is `clerk-sync dev` running?)") from None
    except ValueError:
        raise DumpError(not_moto) from None
    backend = data.get(service) if isinstance(data, dict) else None
    found = backend.get(model) if isinstance(backend, dict) else None  # absent: nothing sent yet
    return [dict(instance) for instance in found or [] if isinstance(instance, dict)]


def read_changes(where: Source) -> list[dict[str, Any]]:
    """The events the change feed's bus received, oldest first, each as EventBridge delivered it to the
    catch-all rule's log group (`source`, `detail-type`, `time`, `detail`, …)."""
    if where.changes_log_group is None:
        raise DumpError(FEED_OFF)
    client = boto3.client(
        "logs", endpoint_url=where.aws_endpoint, region_name=where.region, config=_CONFIG,
        aws_access_key_id=LOCAL_KEY, aws_secret_access_key=LOCAL_KEY,
    )  # fmt: skip
    kept: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("filter_log_events").paginate(logGroupName=where.changes_log_group):
            kept += page.get("events") or []
    except client.exceptions.ResourceNotFoundException:
        raise DumpError(
            f"no change events are kept at {where.aws_endpoint}: its log group {where.changes_log_group} "
            "does not exist (is the change feed on?)"
        ) from None
    except EndpointConnectionError:
        raise DumpError(f"cannot reach {where.aws_endpoint}: is `clerk-sync dev` running?") from None
    except (BotoCoreError, ClientError) as error:
        raise DumpError(f"cannot read {where.changes_log_group} at {where.aws_endpoint}: {error}") from None
    kept.sort(key=lambda event: float(event.get("timestamp") or 0))  # stable: equal times keep their order
    events = []
    for event in kept:
        try:
            events.append(json.loads(event["message"]))
        except (KeyError, ValueError):
            continue  # not an event (nothing else writes there)
    return [event for event in events if isinstance(event, dict)]


def render_changes(events: Sequence[Mapping[str, Any]]) -> str:
    """One aligned line per event: when, what, which record, its version and which delivery wrote it."""
    header = ["time (UTC)", "detail-type", "key", "version (UTC)", "written_by"]
    rows = [_change_row(event) for event in events]
    widths = [max(len(text) for text in column) for column in zip(header, *rows, strict=False)]
    lines = [f"{CHANGES} ({len(events)})"]
    lines += [
        "  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


def _change_row(event: Mapping[str, Any]) -> list[str]:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    key = detail.get("key") if isinstance(detail.get("key"), dict) else {}
    assert isinstance(key, dict)
    version, table = detail.get("version"), detail.get("table")
    shown_version = (
        version_text(str(table), version)
        if isinstance(version, int) and table in TABLES
        else str(version or "")
    )
    return [
        str(event.get("time") or "").replace("T", " ").removesuffix("Z"),
        str(event.get("detail-type") or ""),
        ", ".join(f"{name}={value}" for name, value in key.items()),
        shown_version,
        str(detail.get("written_by") or ""),
    ]


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (wire format) as plain values (Clerk's complete object as stored, compressed)."""
    return {key: _plain(deserialize(value)) for key, value in item.items()}


def shown_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (wire format) as plain JSON values, Clerk's complete object decompressed."""
    plain = plain_item(item)
    if CLERK in plain:
        plain[CLERK] = decompress(bytes(plain[CLERK]))
    return plain


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
    """Aligned text tables, one per synced table (and one for the e-mails, one for the SMS)."""
    blocks = []
    for table, items in data.items():
        if table == EMAILS:
            header = ["to", "from", "subject", "body (first line)"]
            rows = [_email_row(item) for item in items]
        elif table == SMS:
            header = ["to", "message (first line)"]
            rows = [[str(item.get("phone_number") or ""), _first_line(item, "message")] for item in items]
        else:
            columns = COLUMNS[table]
            header = [f"{column} (UTC)" if column in (*TIMES, "version") else column for column in columns]
            rows = [[_cell(table, column, item.get(column)) for column in columns] for item in items]
        widths = [max(len(text) for text in column) for column in zip(header, *rows, strict=False)]
        lines = [f"{table} ({len(items)})"]
        lines += [
            "  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def version_text(table: str, version: int) -> str:
    """A record's version as what it is: the time (UTC) it was taken at; a subscription item's version
    also holds the rank of the item's status in its lifecycle, shown after the time."""
    if table == Table.SUBSCRIPTION_ITEMS:
        at_ms, rank, status = item_version_parts(version)
        return f"{_time(at_ms)} rank {rank} ({status or 'unknown status'})"
    return _time(version)


def _cell(table: str, column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "version" and isinstance(value, int):
        return version_text(table, value)
    if column in TIMES and isinstance(value, int):
        return _time(value)
    if column == "deleted":
        return "deleted" if value else ""
    if isinstance(value, list):  # a plan's features, a role's permissions
        return ",".join(
            str(entry.get("slug", "")) if isinstance(entry, dict) else str(entry) for entry in value
        )
    if isinstance(value, dict) and "slug" in value:  # a subscription item's plan
        return str(value["slug"])
    return str(value)


def _email_row(message: Mapping[str, Any]) -> list[str]:
    destinations = message.get("destinations") or {}
    to = ", ".join(str(address) for address in destinations.get("ToAddresses") or [])
    return [to, str(message.get("source") or ""), str(message.get("subject") or ""), _first_line(message)]


def _first_line(message: Mapping[str, Any], field: str = "body") -> str:
    """The first line of text of an e-mail's body (tags dropped from HTML) or an SMS, shortened."""
    body = str(message.get(field) or "")
    if re.search(r"<[A-Za-z!/][^>]*>", body):
        body = _BLOCK_TAG.sub("\n", body)  # a paragraph, heading or break ends a line
        body = html.unescape(re.sub(r"<[^>]*>", "", body))
    line = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return line if len(line) <= BODY_PREVIEW else line[: BODY_PREVIEW - 1] + "…"


def run_changes(where: Source, *, as_json: bool = False) -> int:
    """Print the events the change feed's bus received: aligned text, or one JSON object a line."""
    events = read_changes(where)
    if as_json:
        for event in events:
            print(json.dumps(event), flush=True)
    else:
        print(render_changes(events), flush=True)
    return 0


def run(names: Sequence[str], where: Source, *, as_json: bool = False) -> int:
    """Print the named tables, e-mails and/or SMS, in the order named (every synced table when none is)."""
    names = list(dict.fromkeys(names)) or list(TABLES)
    tables = [name for name in names if name in TABLES]
    read = read_tables(where, tables) if tables else {}
    if EMAILS in names:
        read[EMAILS] = read_emails(where.aws_endpoint)
    if SMS in names:
        read[SMS] = read_sms(where.aws_endpoint)
    data = {name: read[name] for name in names}
    print(json.dumps(data, indent=2, default=str) if as_json else render_text(data), flush=True)
    if EMAILS in names and not read[EMAILS] and where.sender_email == "":
        print(NO_SENDER_NOTE, file=sys.stderr if as_json else sys.stdout, flush=True)
    return 0
