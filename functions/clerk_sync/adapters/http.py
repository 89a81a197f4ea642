"""The webhook's HTTP edge: a Lambda event (HTTP API v2 or Function URL) in, a decoded request to the
flow, the flow's answer out as the HTTP response.

Routing, body decoding and header reading happen here; a request refused here never reaches the
flow's delivery logic, only its telemetry (`Flow.refuse`).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.domain.signature import MissingHeadersError, SvixHeaders, read_headers

ROUTE_PATH = "/webhooks/clerk"
MAX_BODY_BYTES = 1024 * 1024
NOT_AN_HTTP_EVENT = "not an HTTP API or Function URL request"


@dataclass(frozen=True)
class Request:
    """A routed request: its body as sent and its svix headers."""

    body: bytes
    headers: SvixHeaders


@dataclass(frozen=True)
class Answer:
    """What the flow answers: a status and a short JSON body."""

    status: int
    payload: Mapping[str, Any]


class Rejection(Exception):
    """A request answered with an error status before anything is written."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Flow(Protocol):
    """What serves decoded requests (the app's receiver); `started` is the request's perf_counter()."""

    def receive(self, request: Request, context: LambdaContext | None, started: float) -> Answer: ...

    def refuse(self, rejection: Rejection, started: float) -> Answer: ...


@dataclass(frozen=True)
class HttpEdge:
    """The Lambda entry's view of the flow: events in, HTTP responses out."""

    flow: Flow

    def handle(self, event: object, context: LambdaContext | None) -> dict[str, Any]:
        """Answer one HTTP request (Function URL or HTTP API payload v2)."""
        started = time.perf_counter()
        try:
            request = read_request(event)
        except Rejection as rejection:
            return respond(self.flow.refuse(rejection, started))
        return respond(self.flow.receive(request, context, started))


def read_request(event: object) -> Request:
    """The request POST /webhooks/clerk carries, else a Rejection (shape, route, body, headers, in
    this order)."""
    event = check_shape(event)
    route(event)
    body = raw_body(event)
    try:
        headers = read_svix_headers(event)
    except MissingHeadersError as error:
        raise Rejection(400, str(error)) from None
    return Request(body, headers)


def respond(answer: Answer) -> dict[str, Any]:
    """An HTTP API v2 / Function URL response with a short JSON body."""
    return {
        "statusCode": answer.status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(answer.payload, separators=(",", ":")),
    }


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


def read_svix_headers(event: Mapping[str, Any]) -> SvixHeaders:
    """The svix headers of the request (names are case-insensitive; a value that is not a string, as
    a direct invocation may pass, is no header)."""
    headers = event.get("headers") or {}
    return read_headers({k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)})
