"""Handler latency, AWS calls per event type and throughput, against a raw DynamoDB floor."""

from __future__ import annotations

import base64
import copy
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
from clerk_sync.adapters.aws_clients import Endpoints, EventHook
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.domain.signature import sign
from clerk_sync.settings import SECRET_ENV, load_config
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.function_url import function_url_event
from clerk_sync_local.stack.provision import Provisioned

from benchmarks import cost

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


def _payer(n: int) -> dict[str, Any]:
    """A billing payer: a user for even n, an organization for odd n (Clerk sends the other id as "")."""
    owner = {"user_id": f"user_p{n % 50}", "organization_id": ""}
    if n % 2:
        owner = {"user_id": "", "organization_id": f"org_{n % 50}"}
    return {"object": "commerce_payer", "id": f"cpayer_{n % 50}", **owner}


def _record(kind: str, record_id: str, updated_at: int, **fields: Any) -> dict[str, Any]:
    return {"object": kind, "id": record_id, **fields, "created_at": T0, "updated_at": updated_at}


def _event_of(event_type: str, data: dict[str, Any], timestamp: int | None = None) -> dict[str, Any]:
    return {"type": event_type, "data": data, **({"timestamp": timestamp} if timestamp is not None else {})}


# event type -> payload for the n-th delivery (every one applies: fresh ids or newer versions); one
# type of each group of event types, the groups sharing a table and an event-type function
SCENARIOS: dict[str, Callable[[int], dict[str, Any]]] = {
    "user.created": lambda n: _event_of("user.created", _user(f"user_c{n}", T0 + n)),
    "user.updated": lambda n: _event_of("user.updated", _user("user_hot", T0 + n)),
    "organizationMembership.created": lambda n: _event_of(
        "organizationMembership.created", _membership(n, T0 + n)
    ),
    "user.deleted": lambda n: _event_of("user.deleted", {"id": f"user_d{n}", "deleted": True}, T0 + n),
    "organizationInvitation.created": lambda n: _event_of(
        "organizationInvitation.created",
        _record(
            "organization_invitation",
            f"orginv_{n}",
            T0 + n,
            email_address=f"invitee{n}@example.com",
            role="org:member",
            organization_id=f"org_{n % 50}",
            status="pending",
        ),
    ),
    "role.created": lambda n: _event_of(
        "role.created",
        _record(
            "role",
            f"role_{n}",
            T0 + n,
            key=f"org:r{n}",
            name="Editor",
            permissions=[{"key": "org:docs:read"}],
        ),
    ),
    "permission.created": lambda n: _event_of(
        "permission.created", _record("permission", f"perm_{n}", T0 + n, key=f"org:p{n}:read", type="user")
    ),
    "organizationDomain.created": lambda n: _event_of(
        "organizationDomain.created",
        _record(
            "organization_domain",
            f"orgdm_{n}",
            T0 + n,
            name=f"d{n}.example",
            organization_id=f"org_{n % 50}",
            enrollment_mode="automatic_invitation",
            verification={"status": "verified", "strategy": "email_code"},
        ),
    ),
    "waitlistEntry.created": lambda n: _event_of(
        "waitlistEntry.created",
        _record("waitlist_entry", f"wle_{n}", T0 + n, email_address=f"w{n}@example.com", status="pending"),
    ),
    "subscription.created": lambda n: _event_of(
        "subscription.created",
        _record("commerce_subscription", f"csub_{n}", T0 + n, status="active", payer=_payer(n), items=[]),
    ),
    "subscriptionItem.active": lambda n: _event_of(
        "subscriptionItem.active",
        {
            "object": "commerce_subscription_item",
            "id": f"csubi_{n}",
            "status": "active",
            "plan_id": "cplan_pro",
            "plan": {"id": "cplan_pro", "name": "Pro", "slug": "pro"},
            "payer": _payer(n),
        },
        T0 + n,
    ),
    "paymentAttempt.created": lambda n: _event_of(
        "paymentAttempt.created",
        _record(
            "commerce_payment_attempt",
            f"cpa_{n}",
            T0 + n,
            status="paid",
            payer=_payer(n),
            totals={"grand_total": {"amount": 1000, "currency": "USD"}},
            subscription_items=[{"id": f"csubi_{n}"}],
        ),
    ),
    "unknown type": lambda n: _event_of("agentTask.created", {"id": f"agt_{n}"}),
}


@dataclass(frozen=True)
class TypeResult:
    """Figures for one event type."""

    event_type: str
    calls: dict[str, float]  # AWS operation -> calls per delivery
    write_units: float  # DynamoDB write units per delivery
    median_ms: float
    p99_ms: float
    floor_median_ms: float | None  # the same DynamoDB round trips made raw


def _event(payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    msg_id = "msg_" + uuid.uuid4().hex
    ts = int(time.time())
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": sign(KEY, msg_id, ts, body),
        "content-type": "application/json",
    }
    return function_url_event("POST", "/webhooks/clerk", headers.items(), body, "127.0.0.1")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


KEY_ATTRIBUTES = ("id", "organization_id")


def _renamed(name: str, value: Any, suffix: str) -> Any:
    return {"S": f"{value['S']}#{suffix}"} if name in KEY_ATTRIBUTES and "S" in value else value


def _fresh_keys(value: Any, suffix: str) -> Any:
    """A copy of request parameters whose item keys are new, so conditions pass as on a first write."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if name in ("Item", "Key") and isinstance(item, dict):
                item = {
                    k: ({"S": f"{v['S']}#{suffix}"} if k in KEY_ATTRIBUTES and "S" in v else v)
                    for k, v in item.items()
                }
            out[name] = _fresh_keys(item, suffix)
        return out
    if isinstance(value, list):
        return [_fresh_keys(v, suffix) for v in value]
    return value


def _floor(clients: dict[str, Any], requests: list[tuple[str, str, dict[str, Any]]]) -> float:
    """The floor (ms): the very requests one delivery made (same items, conditions, messages), sent raw
    through plain boto3 clients on new keys — the round trips without anything the handler adds."""
    suffix = uuid.uuid4().hex
    calls = [(service, operation, _fresh_keys(params, suffix)) for service, operation, params in requests]
    started = time.perf_counter()
    for service, operation, params in calls:
        clients[service]._make_api_call(operation, params)
    return (time.perf_counter() - started) * 1000


def measure(
    provisioned: Provisioned, endpoints: Endpoints, rounds: int = 100
) -> tuple[list[TypeResult], float]:
    """Per-type latency and calls, then the events per second of a mixed sequential run."""
    env = {SECRET_ENV: SECRET, **provisioned.environment()}
    calls: Counter[str] = Counter()
    requests: list[tuple[str, str, dict[str, Any]]] = []

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.service_model.service_name, model.name, copy.deepcopy(params)))

    hooks: list[EventHook] = [("before-call", count), ("provide-client-params", record)]
    receiver = build_receiver(load_config(env), endpoints, hooks=hooks)
    raw = {
        "dynamodb": boto3.client("dynamodb", endpoint_url=endpoints.dynamodb, region_name=endpoints.region),
        "sqs": boto3.client("sqs", endpoint_url=endpoints.sqs, region_name=endpoints.region),
    }
    results = []
    for event_type, make in SCENARIOS.items():
        for n in range(-5, 0):  # warm-up: connections, caches (older versions than the measured ones)
            receiver.handle(_event(make(n)), context())
        calls.clear()
        timings: list[float] = []
        floor: list[float] = []
        units = 0
        for n in range(rounds):  # each delivery, then its own requests raw: noise hits both alike
            requests.clear()
            event = _event(make(n + 1))
            started = time.perf_counter()
            response = receiver.handle(event, context())
            timings.append((time.perf_counter() - started) * 1000)
            if response["statusCode"] != 200:
                raise RuntimeError(f"{event_type}: {response['statusCode']} {response['body']}")
            units += sum(
                cost.write_units(f"{service}.{operation}", params) for service, operation, params in requests
            )
            if requests:
                floor.append(_floor(raw, list(requests)))
        per_event = {op: c / rounds for op, c in sorted(calls.items())}
        results.append(
            TypeResult(
                event_type,
                per_event,
                units / rounds,
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
