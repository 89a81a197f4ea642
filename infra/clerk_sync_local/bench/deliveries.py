"""Handler latency, AWS calls per event type and throughput, against a raw DynamoDB floor."""

from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from clerk_sync.clients import Endpoints
from clerk_sync.config import load_config
from clerk_sync.runtime import build_receiver
from clerk_sync.signature import sign

from clerk_sync_local.context import LocalContext
from clerk_sync_local.provision import Provisioned

SECRET = "whsec_" + base64.b64encode(b"clerk-sync-benchmark-key").decode()
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
T0 = 1_732_000_000_000


def context() -> LambdaContext:
    """A fresh local context, typed as what the handler expects."""
    return cast(LambdaContext, LocalContext("WebhookFunction"))


def _user(user_id: str, updated_at: int) -> dict[str, Any]:
    return {
        "object": "user",
        "id": user_id,
        "first_name": "Bench",
        "last_name": "User",
        "primary_email_address_id": "idn_1",
        "email_addresses": [
            {"id": "idn_1", "email_address": f"{user_id}@example.com", "verification": {"status": "verified"}}
        ],
        "phone_numbers": [],
        "public_metadata": {"plan": "pro"},
        "private_metadata": {},
        "unsafe_metadata": {},
        "banned": False,
        "locked": False,
        "created_at": T0,
        "updated_at": updated_at,
    }


def _membership(n: int, updated_at: int) -> dict[str, Any]:
    return {
        "object": "organization_membership",
        "id": f"orgmem_{n}",
        "role": "org:member",
        "permissions": [],
        "public_metadata": {},
        "organization": {"id": f"org_{n % 50}"},
        "public_user_data": {"user_id": f"user_m{n}"},
        "created_at": T0,
        "updated_at": updated_at,
    }


# event type -> payload for the n-th delivery (every one applies: fresh ids or newer versions)
SCENARIOS: dict[str, Callable[[int], dict[str, Any]]] = {
    "user.created": lambda n: {"type": "user.created", "data": _user(f"user_c{n}", T0 + n)},
    "user.updated": lambda n: {"type": "user.updated", "data": _user("user_hot", T0 + n)},
    "organizationMembership.created": lambda n: {
        "type": "organizationMembership.created",
        "data": _membership(n, T0 + n),
    },
    "user.deleted": lambda n: {
        "type": "user.deleted",
        "data": {"id": f"user_d{n}", "deleted": True},
        "timestamp": T0 + n,
    },
    "unknown type": lambda n: {"type": "subscription.created", "data": {"id": f"sub_{n}"}},
}


@dataclass(frozen=True)
class TypeResult:
    """Figures for one event type."""

    event_type: str
    calls: dict[str, float]  # AWS operation -> calls per delivery
    median_ms: float
    p99_ms: float
    floor_median_ms: float | None  # the same DynamoDB round trips made raw


def _event(payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    msg_id = "msg_" + uuid.uuid4().hex
    ts = int(time.time())
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/webhooks/clerk",
        "headers": {
            "svix-id": msg_id,
            "svix-timestamp": str(ts),
            "svix-signature": sign(KEY, msg_id, ts, body),
            "content-type": "application/json",
        },
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/clerk"}},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _floor(client: Any, table: str, calls: Counter[str], n: int) -> list[float]:
    """The floor: the handler's DynamoDB round trips per delivery, made raw (transactions as PutItem)."""
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        for operation, count in calls.items():
            for _ in range(count):
                key = {"id": {"S": f"floor#{uuid.uuid4().hex}"}}
                if operation == "dynamodb.UpdateItem":
                    client.update_item(
                        TableName=table,
                        Key=key,
                        UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"N": "1"}},
                    )
                elif operation.startswith("dynamodb."):
                    client.put_item(
                        TableName=table,
                        Item={**key, "v": {"N": "1"}},
                        ConditionExpression="attribute_not_exists(id)",
                    )
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure(
    provisioned: Provisioned, endpoints: Endpoints, rounds: int = 100
) -> tuple[list[TypeResult], float]:
    """Per-type latency and calls, then the events per second of a mixed sequential run."""
    env = {"CLERK_WEBHOOK_SIGNING_SECRET": SECRET, **provisioned.environment()}
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    receiver = build_receiver(load_config(env), endpoints, hooks=[("before-call", count)])
    raw = boto3.client("dynamodb", endpoint_url=endpoints.dynamodb, region_name=endpoints.region)
    results = []
    for event_type, make in SCENARIOS.items():
        for n in range(-5, 0):  # warm-up: connections, caches (older versions than the measured ones)
            receiver.handle(_event(make(n)), context())
        calls.clear()
        timings = []
        for n in range(rounds):
            event = _event(make(n + 1))
            started = time.perf_counter()
            response = receiver.handle(event, context())
            timings.append((time.perf_counter() - started) * 1000)
            if response["statusCode"] != 200:
                raise RuntimeError(f"{event_type}: {response['statusCode']} {response['body']}")
        per_event = {op: c / rounds for op, c in sorted(calls.items())}
        dynamo = Counter({op: round(c) for op, c in per_event.items() if op.startswith("dynamodb.")})
        floor = _floor(raw, provisioned.tables["IdempotencyTable"], dynamo, rounds) if dynamo else None
        results.append(
            TypeResult(
                event_type,
                per_event,
                statistics.median(timings),
                _percentile(timings, 0.99),
                statistics.median(floor) if floor else None,
            )
        )
    started = time.perf_counter()
    mixed = 0
    for n in range(rounds):
        for make in SCENARIOS.values():
            receiver.handle(_event(make(1_000_000 + n)), context())
            mixed += 1
    return results, mixed / (time.perf_counter() - started)
