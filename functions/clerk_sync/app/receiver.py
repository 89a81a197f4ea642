"""The webhook request flow: route, read the raw body, verify, parse, plan, process, answer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.dynamodb.schema_check import UnstorablePayloadError
from clerk_sync.adapters.signing_keys import SigningKeys, SigningKeysUnavailable
from clerk_sync.app.delivery import DeliveryProcessor
from clerk_sync.domain import planner
from clerk_sync.domain.envelope import MalformedEventError, parse_event
from clerk_sync.domain.names import is_message_id
from clerk_sync.domain.plans import InvalidEventError
from clerk_sync.domain.signature import MissingHeadersError, SignatureError, SvixHeaders, read_headers, verify
from clerk_sync.observability import count, count_delivery, logger

ROUTE_PATH = "/webhooks/clerk"
MAX_BODY_BYTES = 1024 * 1024
NOT_AN_HTTP_EVENT = "not an HTTP API or Function URL request"
OTHER_TYPES = "other"
"""The `type` dimension of every type this receiver does not store (dimension values stay bounded)."""


def respond(status: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP API v2 / Function URL response with a short JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")),
    }


class Rejection(Exception):
    """A request answered with an error status before anything is written."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_shape(event: object) -> Mapping[str, Any]:
    """The event as an HTTP API v2 / Function URL payload, else a 400 (a direct invocation can pass
    anything: it is refused, never an exception)."""
    if not isinstance(event, Mapping):
        raise Rejection(400, NOT_AN_HTTP_EVENT)
    context = event.get("requestContext")
    shapes = (
        (context, Mapping),
        ((context or {}).get("http") if isinstance(context, Mapping) else None, Mapping),
        (event.get("headers"), Mapping),
        (event.get("body"), str),
        (event.get("rawPath"), str),
    )
    if any(value is not None and not isinstance(value, kind) for value, kind in shapes):
        raise Rejection(400, NOT_AN_HTTP_EVENT)
    return event


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body bytes as sent (base64 undone when the event says so); 413 over 1 MiB."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4:
            raise Rejection(413, "body too large")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Rejection(400, "body is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise Rejection(413, "body too large")
    return data


def route(event: Mapping[str, Any]) -> None:
    """Only POST /webhooks/clerk exists, spelt exactly (no trailing slash): 404 for every other path,
    405 for other methods."""
    http = (event.get("requestContext") or {}).get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "")
    if path != ROUTE_PATH:
        raise Rejection(404, "not found")
    if str(http.get("method", "")).upper() != "POST":
        raise Rejection(405, "method not allowed")


@dataclass
class Receiver:
    """Everything a delivery needs, created once per container."""

    signing_keys: SigningKeys
    """The current keys (fixed, or cached from Secrets Manager); may raise SigningKeysUnavailable."""
    processor: DeliveryProcessor
    clock: Callable[[], float] = time.time

    def handle(self, event: object, context: LambdaContext | None) -> dict[str, Any]:
        """Answer one HTTP request (Function URL or HTTP API payload v2)."""
        started = time.perf_counter()
        try:
            event = check_shape(event)
            route(event)
            body = raw_body(event)
            headers = read_svix_headers(event)
            keys = self.signing_keys()
            svix_timestamp = verify(keys, headers, body, now=self.clock())
        except SigningKeysUnavailable as error:
            return self._keys_unavailable(error.reason, started)
        except Rejection as rejection:
            return self._rejected(rejection.status, rejection.reason, started)
        except MissingHeadersError as error:
            return self._rejected(400, str(error), started)
        except SignatureError as error:
            count("SignatureFailures")
            return self._rejected(401, f"invalid signature: {error}", started)
        return self._verified(headers.msg_id, svix_timestamp, body, context, started)

    def _verified(
        self, svix_id: str, svix_timestamp: int, body: bytes, context: LambdaContext | None, started: float
    ) -> dict[str, Any]:
        if not is_message_id(svix_id):  # it becomes keys and log fields: never shown
            return self._rejected_payload("svix-id: not a Svix message id", started, {})
        log = {"svix_id": svix_id}
        try:
            event = parse_event(body, svix_id, svix_timestamp)
            log["type"] = event.type  # an event-type name (parse_event checks it)
            plan = planner.plan(event)
        except (MalformedEventError, InvalidEventError) as error:
            return self._rejected_payload(str(error), started, log)
        if plan.ignored:
            outcome = {"status": "ignored", "type": plan.event_type, "id": plan.entity_id}
            return self._answered(200, outcome, started, log)
        try:
            outcome = self.processor.process(
                svix_id=svix_id, body_sha256=hashlib.sha256(body).hexdigest(), plan=plan, context=context
            )
        except IdempotencyAlreadyInProgressError:
            return self._rejected(409, "delivery in progress; retry later", started, log)
        except IdempotencyValidationError:
            return self._rejected(400, "svix-id already used for a different body", started, log)
        except UnstorablePayloadError as error:
            return self._rejected_payload(error.reason, started, log)
        except Exception:
            logger.exception("delivery failed", extra={**log, "status_code": 503})
            count("DeliveryErrors")
            count_delivery(type_dimension(log.get("type", "-")), "error")
            return respond(503, {"error": "temporary failure; retry"})
        return self._answered(200, outcome, started, log)

    def _answered(
        self, status: int, outcome: dict[str, Any], started: float, log: dict[str, str]
    ) -> dict[str, Any]:
        count_delivery(type_dimension(outcome["type"]), outcome["status"])
        logger.info(
            "delivery",
            extra={
                **log,
                "status_code": status,
                "outcome": outcome["status"],
                "entity_id": outcome.get("id"),
                "ms": _ms(started),
            },
        )
        return respond(status, outcome)

    def _keys_unavailable(self, reason: str, started: float) -> dict[str, Any]:
        """503 without details (Svix retries); the reason goes to the log and a metric to the alarms."""
        logger.error(
            "signing keys unavailable", extra={"status_code": 503, "reason": reason, "ms": _ms(started)}
        )
        count("SigningKeysUnavailable")
        count_delivery("-", "keys_unavailable")
        return respond(503, {"error": "signing keys unavailable; retry later"})

    def _rejected_payload(self, reason: str, started: float, log: dict[str, str]) -> dict[str, Any]:
        """400 for a verified event that can never be stored: Svix retries it anyway, so it is alarmed on."""
        count("RejectedPayload")
        return self._rejected(400, reason, started, log, outcome="rejected_payload")

    def _rejected(
        self,
        status: int,
        reason: str,
        started: float,
        log: dict[str, str] | None = None,
        outcome: str | None = None,
    ) -> dict[str, Any]:
        outcome = outcome or f"rejected_{status}"
        count_delivery(type_dimension(log.get("type", "-")) if log else "-", outcome)
        logger.info(
            "rejected",
            extra={
                **(log or {}),
                "status_code": status,
                "outcome": outcome,
                "reason": reason,
                "ms": _ms(started),
            },
        )
        return respond(status, {"error": reason})


def read_svix_headers(event: Mapping[str, Any]) -> SvixHeaders:
    """The svix headers of the request (names are case-insensitive; a value that is not a string, as
    a direct invocation may pass, is no header)."""
    headers = event.get("headers") or {}
    return read_headers({k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)})


def type_dimension(event_type: str) -> str:
    """A `Deliveries` metric's `type`: a stored type by name, every other one as OTHER_TYPES."""
    return event_type if event_type in planner.PLANNERS or event_type == "-" else OTHER_TYPES


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
