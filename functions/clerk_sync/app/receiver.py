"""The webhook delivery flow over a decoded request: verify, parse, decide the changes, process, answer
(the HTTP edge, adapters/http.py, routes and decodes the request and turns the answer into the
response)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.dynamodb.schema_check import UnstorablePayloadError
from clerk_sync.adapters.http import Answer, Rejection, Request
from clerk_sync.adapters.signing_keys import SigningKeys, SigningKeysUnavailable
from clerk_sync.app.delivery import DeliveryOutcome, DeliveryProcessor
from clerk_sync.domain import event_types
from clerk_sync.domain.envelope import MalformedEventError, parse_event
from clerk_sync.domain.names import is_message_id
from clerk_sync.domain.signature import SignatureError, verify
from clerk_sync.domain.writes import InvalidEventError
from clerk_sync.observability import count, count_delivery, logger

OTHER_TYPES = "other"
"""The `type` dimension of every type this receiver does not store (dimension values stay bounded)."""


@dataclass
class Receiver:
    """Everything a delivery needs, created once per container."""

    signing_keys: SigningKeys
    """The current keys (fixed, or cached from Secrets Manager); may raise SigningKeysUnavailable."""
    processor: DeliveryProcessor
    clock: Callable[[], float] = time.time

    def receive(self, request: Request, context: LambdaContext | None, started: float) -> Answer:
        """Answer one routed request: its signature checked, then its event delivered."""
        try:
            keys = self.signing_keys()
            svix_timestamp = verify(keys, request.headers, request.body, now=self.clock())
        except SigningKeysUnavailable as error:
            return self._keys_unavailable(error.reason, started)
        except SignatureError as error:
            count("SignatureFailures")
            return self._rejected(401, f"invalid signature: {error}", started)
        return self._verified(request.headers.msg_id, svix_timestamp, request.body, context, started)

    def refuse(self, rejection: Rejection, started: float) -> Answer:
        """Record a request the HTTP edge refused (route, shape, body or headers)."""
        return self._rejected(rejection.status, rejection.reason, started)

    def _verified(
        self, svix_id: str, svix_timestamp: int, body: bytes, context: LambdaContext | None, started: float
    ) -> Answer:
        if not is_message_id(svix_id):  # it becomes keys and log fields: never shown
            return self._rejected_payload("svix-id: not a Svix message id", started, {})
        log = {"svix_id": svix_id}
        try:
            event = parse_event(body, svix_id, svix_timestamp)
            log["type"] = event.type  # an event-type name (parse_event checks it)
            changes = event_types.changes_of(event)
        except (MalformedEventError, InvalidEventError) as error:
            return self._rejected_payload(str(error), started, log)
        if changes.ignored:
            outcome: DeliveryOutcome = {
                "status": "ignored",
                "type": changes.event_type,
                "id": changes.entity_id,
            }
            return self._answered(200, outcome, started, log)
        try:
            outcome = self.processor.process(
                svix_id=svix_id,
                body_sha256=hashlib.sha256(body).hexdigest(),
                changes=changes,
                context=context,
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
            return Answer(503, {"error": "temporary failure; retry"})
        return self._answered(200, outcome, started, log)

    def _answered(self, status: int, outcome: DeliveryOutcome, started: float, log: dict[str, str]) -> Answer:
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
        return Answer(status, outcome)

    def _keys_unavailable(self, reason: str, started: float) -> Answer:
        """503 without details (Svix retries); the reason goes to the log and a metric to the alarms."""
        logger.error(
            "signing keys unavailable", extra={"status_code": 503, "reason": reason, "ms": _ms(started)}
        )
        count("SigningKeysUnavailable")
        count_delivery("-", "keys_unavailable")
        return Answer(503, {"error": "signing keys unavailable; retry later"})

    def _rejected_payload(self, reason: str, started: float, log: dict[str, str]) -> Answer:
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
    ) -> Answer:
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
        return Answer(status, {"error": reason})


def type_dimension(event_type: str | None) -> str:
    """A `Deliveries` metric's `type`: a stored type by name, every other one as OTHER_TYPES."""
    return event_type if event_type in event_types.EVENT_TYPES or event_type == "-" else OTHER_TYPES


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
