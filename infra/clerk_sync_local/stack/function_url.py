"""A Lambda Function URL in front of one local function: the HTTP server of `clerk-sync dev`.

Each request becomes the event a Function URL sends (payload format 2.0), the function's answer
becomes the HTTP response, and the terminal gets one readable line per delivery.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qsl

from clerk_sync_local.stack.functions import Invoker
from clerk_sync_local.stack.state import DevError

WEBHOOK_PATH = "/webhooks/clerk"
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # a Function URL's request payload limit
MAX_LINE_BYTES = 65536  # one line of a chunked body's framing (a size line or a trailer field)
HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")
TEXT_CONTENT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "+json",
    "+xml",
)


def function_url_event(
    method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event a Lambda Function URL sends for this request (payload format 2.0): the method and the
    path as sent, for the handler to route."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    cookie_header = merged.pop("cookie", "")
    cookies = [c.strip() for c in cookie_header.split(";") if c.strip()]
    raw_path, _, raw_query = target.partition("?")
    path = raw_path or "/"  # as sent: a Function URL collapses no slashes
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    host = merged.get("host", "localhost")
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"], event["isBase64Encoded"] = _event_body(body, merged.get("content-type", ""))
    return event


def _event_body(body: bytes, content_type: str) -> tuple[str, bool]:
    """Text bodies pass as they are; anything else (or text that is not UTF-8) is base64-encoded."""
    if any(marker in content_type.lower() for marker in TEXT_CONTENT_TYPES):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def function_url_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body a Function URL answers for a handler's result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or ()]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body


def delivery_line(event: Mapping[str, Any], status: int, body: bytes, ms: float) -> str:
    """One readable line per request: time, svix id, event type, status, outcome, duration."""
    headers = event["headers"]
    event_type = f"{event['requestContext']['http']['method']} {event['rawPath']}"
    if event["rawPath"].rstrip("/") == WEBHOOK_PATH:
        event_type = str(_json_field(_event_bytes(event), "type") or "-")
    outcome = _json_field(body, "status") or _json_field(body, "error") or body[:60].decode(errors="replace")
    return (
        f"{datetime.now():%H:%M:%S}  {headers.get('svix-id', '-'):<31}  {event_type:<30}  "
        f"{status}  {outcome}  {ms:.0f} ms"
    )


def _event_bytes(event: Mapping[str, Any]) -> bytes:
    body = str(event.get("body") or "")
    try:
        return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    except (binascii.Error, ValueError):
        return b""


def _json_field(raw: bytes, name: str) -> str | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser recurses
        return None
    field = value.get(name) if isinstance(value, dict) else None
    return str(field) if field is not None else None


class BodyRefused(Exception):
    """A request body that is never passed to the function: answered with `status` (400, 413, 501)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def read_body(headers: Message, stream: BufferedIOBase) -> bytes:
    """The request body: `content-length` bytes, or the chunks of a `transfer-encoding: chunked` one
    (which overrides any `content-length`, RFC 9112 §6.3); at most a Function URL's 6 MB."""
    codings = [c.strip().lower() for v in headers.get_all("transfer-encoding", []) for c in v.split(",")]
    if codings == ["chunked"]:
        return _read_chunks(stream)
    if codings:
        raise BodyRefused(501, f"transfer-encoding {', '.join(codings)} not supported")
    try:
        length = int(headers.get("content-length") or 0)
    except ValueError:
        raise BodyRefused(400, "content-length is not a number") from None
    if length > MAX_REQUEST_BYTES:
        raise BodyRefused(413, "too large")
    if length < 0:
        raise BodyRefused(400, "negative content-length")
    return stream.read(length)


def _read_chunks(stream: BufferedIOBase) -> bytes:
    body = bytearray()
    while True:
        size_field = _chunk_line(stream).split(b";", 1)[0].strip()  # chunk extensions are ignored
        if not HEX_DIGITS.fullmatch(size_field):
            raise BodyRefused(400, "malformed chunk size")
        size = int(size_field, 16)
        if size == 0:
            break
        if len(body) + size > MAX_REQUEST_BYTES:
            raise BodyRefused(413, "too large")
        chunk = stream.read(size)
        if len(chunk) < size or _chunk_line(stream) != b"":
            raise BodyRefused(400, "malformed chunk")
        body += chunk
    while _chunk_line(stream):  # trailer fields, up to the empty line: not passed on
        pass
    return bytes(body)


def _chunk_line(stream: BufferedIOBase) -> bytes:
    """One line of the chunked framing, without its line ending."""
    line = stream.readline(MAX_LINE_BYTES + 1)
    if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
        raise BodyRefused(400, "malformed chunked body")
    return line.rstrip(b"\r\n")


def _utf8(value: str) -> str:
    """A header value as UTF-8 text (the standard library reads header bytes as latin-1)."""
    return value.encode("latin-1").decode("utf-8", errors="replace")


class FunctionUrlServer(ThreadingHTTPServer):
    """Serves every request through one function, as its Function URL does."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], say: Callable[[str], None]) -> None:
        super().__init__(address, _FunctionUrlRequest)
        self.say = say
        self.function: Invoker | None = None  # set before serving starts

    @property
    def url(self) -> str:
        """The webhook endpoint's URL."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{WEBHOOK_PATH}"


class _FunctionUrlRequest(BaseHTTPRequestHandler):
    server: FunctionUrlServer

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every method reaches the function, whatever its case or token (`do_post`, `do_BREW`): the
        handler answers the ones it does not route (its JSON 405), not this server (an HTML 501)."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.perf_counter()
        target = self.requestline.split()[1]  # self.path has its leading slashes collapsed
        try:
            body = read_body(self.headers, self.rfile)
        except BodyRefused as refused:
            self._reply(refused.status, [("content-type", "text/plain")], b"Bad request body")
            when = f"{datetime.now():%H:%M:%S}"
            self.server.say(f"{when}  {self.command} {target}: {refused.status}, body refused ({refused})")
            return
        sent_headers = [(name, _utf8(value)) for name, value in self.headers.items()]
        event = function_url_event(self.command, target, sent_headers, body, self.client_address[0])
        assert self.server.function is not None
        invocation = self.server.function.invoke(event)
        if invocation.error is None:
            status, headers, payload = function_url_response(invocation.result)
        else:
            status, headers, payload = 502, [("content-type", "text/plain")], b"Internal Server Error"
        self._reply(status, headers, payload)
        line = delivery_line(event, status, payload, (time.perf_counter() - started) * 1000)
        if invocation.error is not None:
            line += f"  ({invocation.error})"
        if status >= 500:
            line += f"  see {self.server.function.logical_id}.log"
        self.server.say(line)

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the server prints its own line per request."""


def bind_server(host: str, port: int, say: Callable[[str], None]) -> FunctionUrlServer:
    """Bind the HTTP port first, so that a busy port fails before any engine starts."""
    try:
        return FunctionUrlServer((host, port), say)
    except OSError as error:
        hint = (
            " (another `clerk-sync dev`?): choose another with --port N (`make dev PORT=N`; 0: any free port)"
            if error.errno == errno.EADDRINUSE
            else ""
        )
        raise DevError(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") from None
