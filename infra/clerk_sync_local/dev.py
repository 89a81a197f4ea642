"""`clerk-sync dev`: the whole system on one machine, running the handlers named in template.yaml.

In one process, like one warm Lambda container per function:
- local AWS engines (moto; DynamoDB Local for the tables with `--backend dynamodb-local`), or an
  endpoint given with `--aws-endpoint`, with every table and queue of the template provisioned;
- an HTTP server that turns each request into the event a Lambda Function URL sends (payload v2) and
  answers with what the WebhookFunction handler returns;
- for every SQS event of a function, a worker that behaves like Lambda's event source mapping
  (long-poll, batches, `batchItemFailures`, so the queue's redrive to the dead-letter queue applies).

What the functions print (Powertools JSON logs, EMF metrics) goes to `<state>/logs/<Function>.log`, as it
would to CloudWatch; the terminal gets one line per delivery and per batch. The stack publishes how to
reach it in `<state>/dev.json`, which `clerk-sync send` and `clerk-sync dump` read.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import importlib
import io
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from clerk_sync.config import SECRET_ARN_ENV, SECRET_ENV, SECRET_PREFIX, ConfigError, parse_signing_secrets

from clerk_sync_local.context import LocalContext
from clerk_sync_local.template import TEMPLATE_PATH, Template, load_template, references, resources

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from clerk_sync_local.provision import Provisioned

STATE_DIR_ENV = "CLERK_SYNC_STATE_DIR"
DEFAULT_STATE_DIR = TEMPLATE_PATH.parent / ".local" / "state"
CONNECTION_FILE = "dev.json"
SECRET_FILE = "signing-secret"
SAM_ENV_FILE = "sam-env.json"
WEBHOOK_PATH = "/webhooks/clerk"
BACKENDS = ("moto", "dynamodb-local")
DEFAULT_REGION = "us-east-1"
FUNCTION_TYPE = "AWS::Serverless::Function"
SECRET_TYPE = "AWS::SecretsManager::Secret"
SAM_DEFAULT_TIMEOUT = 3
SAM_DEFAULT_MEMORY = 128
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # a Function URL's request payload limit
POLL_WAIT_SECONDS = 1  # each long poll: short, so that Ctrl-C stops a worker within a second
SQS_MAX_MESSAGES = 10  # per ReceiveMessage call
TEXT_CONTENT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "+json",
    "+xml",
)


class DevError(Exception):
    """The local stack cannot start; the message says why and what to do."""

    exit_code = 1


def state_dir(given: Path | None = None) -> Path:
    """The local state folder: `given`, else $CLERK_SYNC_STATE_DIR, else .local/state beside the template."""
    return given or Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


# --- what a running stack publishes ----------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionInfo:
    """How to reach a running `clerk-sync dev`: written to <state>/dev.json for `send` and `dump`."""

    url: str
    secret: str
    region: str
    aws_endpoint: str
    dynamodb_endpoint: str
    tables: dict[str, str]  # configuration variable (USERS_TABLE, …) -> table name
    queue_url: str
    dead_letter_queue_url: str
    pid: int

    def save(self, directory: Path) -> Path:
        """Write dev.json (readable by the owner only: it holds the signing secret)."""
        path = directory / CONNECTION_FILE
        _write_private(path, json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> ConnectionInfo | None:
        """The published connection, or None when no stack has published one there."""
        try:
            return cls(**json.loads((directory / CONNECTION_FILE).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise DevError(f"{directory / CONNECTION_FILE} is unreadable ({error}): delete it") from None

    def running(self) -> bool:
        """True while the process that published this is alive."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def signing_secret(environ: Mapping[str, str], directory: Path) -> tuple[str, str]:
    """The secret to verify with and where it came from: $CLERK_WEBHOOK_SIGNING_SECRET, else one kept
    in <state>/signing-secret (generated on first use)."""
    given = environ.get(SECRET_ENV)
    path = directory / SECRET_FILE
    if given:
        secret, origin = given, f"from ${SECRET_ENV}"
    elif path.is_file():
        secret, origin = path.read_text(encoding="utf-8").strip(), f"kept in {_shown(path)}"
    else:
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
        _write_private(path, secret + "\n")
        origin = f"generated, kept in {_shown(path)}"
    try:
        parse_signing_secrets(secret)
    except ConfigError as error:
        raise DevError(f"{error} ({origin})") from None
    return secret, origin


# --- the template's functions ---------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function, with the template's Globals applied."""

    logical_id: str
    handler: str
    code_dir: Path
    timeout: float
    memory: int
    variables: Mapping[str, Any]  # Environment.Variables, Globals first, unresolved
    events: Mapping[str, Any]
    has_function_url: bool


def function_specs(template: Template, template_dir: Path) -> dict[str, FunctionSpec]:
    """Every function of the template, keyed by logical id."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    specs = {}
    for logical_id, properties in resources(template, FUNCTION_TYPE).items():
        merged = {**defaults, **properties}
        variables = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((properties.get("Environment") or {}).get("Variables") or {}),
        }
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=str(merged["Handler"]),
            code_dir=(template_dir / str(merged.get("CodeUri") or ".")).resolve(),
            timeout=float(merged.get("Timeout", SAM_DEFAULT_TIMEOUT)),
            memory=int(merged.get("MemorySize", SAM_DEFAULT_MEMORY)),
            variables=variables,
            events=merged.get("Events") or {},
            has_function_url="FunctionUrlConfig" in merged,
        )
    return specs


@dataclass(frozen=True)
class LocalResources:
    """Values of `!Ref` for this stack: parameters, and what `!Ref` returns for the resources created
    locally (a table's name, a queue's URL, a secret's ARN)."""

    template: Template
    environ: Mapping[str, str]
    refs: Mapping[str, str]  # logical id -> value of !Ref

    def resolve(self, value: Any, variable: str | None = None) -> str:
        """A template value as a string. For a literal or a parameter, the environment variable
        `variable`, when set, wins (that is how SENDER_EMAIL or POWERTOOLS_LOG_LEVEL are changed
        locally); resources are the local ones."""
        target = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
        if isinstance(target, str) and target in self.refs:
            return self.refs[target]
        if variable and variable in self.environ:
            return self.environ[variable]
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | int | float):
            return str(value)
        parameter = (self.template.get("Parameters") or {}).get(target) if isinstance(target, str) else None
        if isinstance(parameter, dict) and "Default" in parameter:
            return self.resolve(parameter["Default"])
        if parameter is not None:
            raise DevError(f"template parameter {target} has no Default: set {variable or target}")
        where = f" (for {variable})" if variable else ""
        raise DevError(
            f"cannot resolve {value}{where} locally: only !Ref to parameters, tables, queues and secrets"
        )

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's environment variables, resolved."""
        return {name: self.resolve(value, name) for name, value in spec.variables.items()}


# --- running a handler in this process -------------------------------------------------------------


class _Routed(io.TextIOBase):
    """A sys.stdout/sys.stderr stand-in: a function thread writes to its log, any other to the terminal."""

    def __init__(self, terminal: TextIO, route: threading.local) -> None:
        self._terminal = terminal
        self._route = route

    def _target(self) -> TextIO:
        target: TextIO | None = getattr(self._route, "stream", None)
        return target or self._terminal

    def write(self, text: str) -> int:
        self._target().write(text)
        return len(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()


class FunctionLogs:
    """Per-function log files, like CloudWatch log groups: <state>/logs/<Function>.log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._route = threading.local()
        self._files: dict[str, TextIO] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route this process's stdout and stderr by thread while the stack runs."""
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Routed(saved[0], self._route), _Routed(saved[1], self._route)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved
            for stream in self._files.values():
                stream.close()
            self._files.clear()

    @contextlib.contextmanager
    def capture(self, function_id: str) -> Iterator[None]:
        """Send what this thread prints to the function's log file."""
        if function_id not in self._files:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{function_id}.log"
            self._files[function_id] = path.open("a", encoding="utf-8", buffering=1)
        self._route.stream = self._files[function_id]
        try:
            yield
        finally:
            self._route.stream = None


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: the handler's result, or an error as Lambda would report it."""

    result: Any
    error: str | None
    ms: float


class LocalFunction:
    """A function's handler imported in this process, called with a LocalContext carrying the
    template's Timeout; its output goes to the function's log.

    Invocations run one at a time across all functions: in one process the functions share
    module-level state (Powertools' Logger and Metrics) that separate Lambda containers would not.
    """

    _one_at_a_time = threading.Lock()

    def __init__(self, spec: FunctionSpec, logs: FunctionLogs) -> None:
        self.spec = spec
        self._logs = logs
        module_name, _, attribute = spec.handler.rpartition(".")
        if str(spec.code_dir) not in sys.path:
            sys.path.insert(0, str(spec.code_dir))
        with logs.capture(spec.logical_id):
            module = importlib.import_module(module_name)  # its init code reads the environment now
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise DevError(f"{spec.logical_id}: {module_name} has no function {attribute!r}")
        self._handler: Callable[[dict[str, Any], LocalContext], Any] = handler

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Call the handler; an exception or an overrun of the Timeout becomes `error`."""
        with self._one_at_a_time, self._logs.capture(self.spec.logical_id):
            context = LocalContext(self.spec.logical_id, self.spec.timeout, self.spec.memory)
            started = time.perf_counter()
            try:
                result, error = self._handler(event, context), None
            except Exception as exc:
                traceback.print_exc()
                result, error = None, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - started) * 1000
            if error is None and ms > self.spec.timeout * 1000:
                error = f"Task timed out after {ms / 1000:.2f} seconds"
                print(error, flush=True)
        return Invocation(result=result, error=error, ms=ms)


# --- Function URL --------------------------------------------------------------------------------


def function_url_event(
    method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event a Lambda Function URL sends for this request (payload format 2.0)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    cookie_header = merged.pop("cookie", "")
    cookies = [c.strip() for c in cookie_header.split(";") if c.strip()]
    url = urlsplit(target)
    path = url.path or "/"
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
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
        "rawQueryString": url.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method.upper(),
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
    except ValueError:
        return None
    field = value.get(name) if isinstance(value, dict) else None
    return str(field) if field is not None else None


class FunctionUrlServer(ThreadingHTTPServer):
    """Serves every request through one function, as its Function URL does."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], say: Callable[[str], None]) -> None:
        super().__init__(address, _FunctionUrlRequest)
        self.say = say
        self.function: LocalFunction | None = None  # set before serving starts

    @property
    def url(self) -> str:
        """The webhook endpoint's URL."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{WEBHOOK_PATH}"


class _FunctionUrlRequest(BaseHTTPRequestHandler):
    server: FunctionUrlServer

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            status = 413 if length > 0 else 400
            self._reply(status, [("content-type", "text/plain")], b"Bad request body")
            self.server.say(f"{datetime.now():%H:%M:%S}  {self.command} {self.path}: {status}, body refused")
            return
        body = self.rfile.read(length)
        event = function_url_event(
            self.command, self.path, self.headers.items(), body, self.client_address[0]
        )
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
            line += f"  see {self.server.function.spec.logical_id}.log"
        self.server.say(line)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

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
            " (another `clerk-sync dev`?): choose another with --port"
            if error.errno == errno.EADDRINUSE
            else ""
        )
        raise DevError(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") from None


# --- SQS event source mapping ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event of a function, as the template configures it."""

    function_id: str
    queue_id: str
    batch_size: int
    window_seconds: float
    report_failures: bool


def event_source_mappings(spec: FunctionSpec, local: LocalResources) -> list[EventSourceMapping]:
    """The function's SQS events (queues referred to by `!GetAtt Queue.Arn`)."""
    mappings = []
    for name, event in spec.events.items():
        if event.get("Type") != "SQS":
            continue
        properties = event.get("Properties") or {}
        queue_id = next((q for q in references(properties.get("Queue")) if q in local.refs), None)
        if queue_id is None:
            raise DevError(f"{spec.logical_id}.Events.{name}: Queue is not a queue of the template")
        mappings.append(
            EventSourceMapping(
                function_id=spec.logical_id,
                queue_id=queue_id,
                batch_size=int(local.resolve(properties.get("BatchSize", 10))),
                window_seconds=float(local.resolve(properties.get("MaximumBatchingWindowInSeconds", 0))),
                report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or ()),
            )
        )
    return mappings


@dataclass(frozen=True)
class BatchResult:
    """One batch handed to the function: how many messages, which stay on the queue, and why."""

    received: int
    failed: frozenset[str]  # message ids left on the queue
    kinds: Counter[str]
    invocation: Invocation


class QueueWorker:
    """Polls one queue and invokes the function with Lambda-shaped SQS batches.

    Messages the function reports in `batchItemFailures` (or all of them, when it raises or answers
    with an identifier that is not in the batch) are left alone: they become visible again after the
    queue's visibility timeout, and the redrive policy moves them to the dead-letter queue after
    maxReceiveCount receives. The others are deleted.
    """

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        mapping: EventSourceMapping,
        function: LocalFunction,
        region: str,
    ) -> None:
        self.mapping = mapping
        self._sqs = sqs
        self._queue_url = queue_url
        self._function = function
        self._region = region
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "RedrivePolicy"]
        )
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        redrive = json.loads(attributes["Attributes"].get("RedrivePolicy") or "{}")
        self.max_receive_count: int | None = redrive.get("maxReceiveCount")

    def poll(self, wait_seconds: int = POLL_WAIT_SECONDS) -> BatchResult | None:
        """Receive one batch (long-polling up to `wait_seconds`) and process it; None when empty."""
        messages = self._receive(self.mapping.batch_size, wait_seconds)
        deadline = time.monotonic() + self.mapping.window_seconds
        while messages and len(messages) < self.mapping.batch_size and time.monotonic() < deadline:
            more = self._receive(self.mapping.batch_size - len(messages), POLL_WAIT_SECONDS)
            messages += more
        if not messages:
            return None
        invocation = self._function.invoke({"Records": [self._record(m) for m in messages]})
        failed = self._failed(invocation, {m["MessageId"] for m in messages})
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_MAX_MESSAGES):
            chunk = done[start : start + SQS_MAX_MESSAGES]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        kinds = Counter(_json_field(m["Body"].encode(), "kind") or "message" for m in messages)
        return BatchResult(
            received=len(messages), failed=frozenset(failed), kinds=kinds, invocation=invocation
        )

    def run(self, stop: threading.Event, say: Callable[[str], None]) -> None:
        """Poll until `stop` is set, printing one line per batch."""
        last_error = ""
        while not stop.is_set():
            try:
                result = self.poll()
            except Exception as error:  # an engine going away, a throttled call: keep polling
                if stop.is_set():
                    return
                if str(error) != last_error:
                    say(f"{datetime.now():%H:%M:%S}  worker {self.mapping.function_id}: {error}; retrying")
                last_error = str(error)
                stop.wait(1)
                continue
            last_error = ""
            if result is not None:
                say(self.describe(result))

    def describe(self, result: BatchResult) -> str:
        """One readable line for a batch."""
        kinds = ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in sorted(result.kinds.items()))
        done = result.received - len(result.failed)
        line = (
            f"{datetime.now():%H:%M:%S}  {'worker':<31}  {self.mapping.function_id:<30}  "
            f"{result.received} message{'s' if result.received != 1 else ''} ({kinds}): {done} done"
        )
        if result.failed:
            line += f", {len(result.failed)} left on the queue"
            if self.max_receive_count:
                line += f" (dead-letter queue after {self.max_receive_count} receives)"
        if result.invocation.error:
            line += f"  ({result.invocation.error}; see {self.mapping.function_id}.log)"
        return line + f"  {result.invocation.ms:.0f} ms"

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(count, SQS_MAX_MESSAGES),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [dict(message) for message in answer.get("Messages", [])]

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """A record of Lambda's SQS event."""
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    def _failed(self, invocation: Invocation, ids: set[str]) -> set[str]:
        if invocation.error is not None:
            return ids
        if not self.mapping.report_failures:
            return set()
        answer = invocation.result if isinstance(invocation.result, dict) else {}
        failures = answer.get("batchItemFailures") or []
        reported = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        return ids if not reported <= ids else {str(item) for item in reported}


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType"),
    }


# --- the stack -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevOptions:
    """What `clerk-sync dev` was asked for."""

    host: str = "127.0.0.1"
    port: int = 3000
    aws_endpoint: str | None = None
    backend: str = "moto"
    state_dir: Path = DEFAULT_STATE_DIR
    template_path: Path = TEMPLATE_PATH


@dataclass(frozen=True)
class Endpoints:
    """Where the functions reach AWS: one endpoint for everything, DynamoDB possibly elsewhere."""

    aws: str
    dynamodb: str
    description: str
    embedded: bool  # engines of this process (so its SES identities may be set up here)


def say(line: str) -> None:
    """Print a line to the terminal at once (stdout may be a pipe)."""
    print(line, flush=True)


def run(options: DevOptions) -> int:
    """Run the stack until SIGINT, SIGTERM or SIGHUP, then stop everything it started.

    Raises DevError when it cannot start, and KeyboardInterrupt when interrupted while starting.
    """
    directory = options.state_dir.resolve()
    previous = ConnectionInfo.load(directory)
    if previous is not None and previous.pid != os.getpid() and previous.running():
        raise DevError(
            f"`clerk-sync dev` is already running (pid {previous.pid}, {previous.url}) with its state in "
            f"{_shown(directory)}: stop it first, or give this one another --state-dir"
        )
    template = load_template(options.template_path)
    specs = function_specs(template, options.template_path.parent)
    http_specs = [spec for spec in specs.values() if spec.has_function_url]
    if len(http_specs) != 1:
        raise DevError(
            f"the template needs exactly one function with FunctionUrlConfig, not {len(http_specs)}"
        )
    secret, secret_origin = signing_secret(os.environ, directory)
    with _interrupt_on_signals(), contextlib.ExitStack() as stack:
        server = bind_server(options.host, options.port, say)
        stack.callback(server.server_close)
        _silence_engine_logs()
        endpoints = stack.enter_context(_engines(options, directory))
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        _point_aws_at(endpoints, region)
        provisioned = _provision(endpoints, template, region)
        secret_arns = _store_signing_secret(template, specs.values(), secret)
        for logical_id in secret_arns:
            secret_origin += f"; in Secrets Manager as {_secret_name(logical_id)}"
        local = LocalResources(template, os.environ, {**_refs(provisioned), **secret_arns})
        _export_environment(local, specs.values())
        if endpoints.embedded:
            _verify_sender()
        logs = FunctionLogs(directory / "logs")
        stack.enter_context(logs.installed())
        server.function = _load_http_function(http_specs[0], logs)
        stop = threading.Event()
        workers, skipped = _workers(specs.values(), local, logs, endpoints, region)
        info = ConnectionInfo(
            url=server.url,
            secret=secret,
            region=region,
            aws_endpoint=endpoints.aws,
            dynamodb_endpoint=endpoints.dynamodb,
            tables=_table_variables(provisioned),
            queue_url=provisioned.queue_url,
            dead_letter_queue_url=provisioned.dead_letter_queue_url,
            pid=os.getpid(),
        )
        published = info.save(directory)
        stack.callback(published.unlink, missing_ok=True)
        _write_sam_env(directory / SAM_ENV_FILE, local, specs.values(), endpoints)
        threads = [
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="function-url", daemon=True
            )
        ]
        threads += [
            threading.Thread(target=w.run, args=(stop, say), name=w.mapping.function_id, daemon=True)
            for w in workers
        ]
        stack.callback(_stop_threads, server, stop, threads)
        for thread in threads:
            thread.start()
        _banner(options, info, secret_origin, endpoints, provisioned, workers, skipped, directory)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("stopping…")
    say("stopped")
    return 0


@contextlib.contextmanager
def _interrupt_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, so every exit path cleans up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    saved = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _silence_engine_logs() -> None:
    """No per-request lines from moto's werkzeug server; provisioning's own lines stay visible."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    ours = logging.getLogger("clerk_sync_local")
    if not ours.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)


@contextlib.contextmanager
def _engines(options: DevOptions, directory: Path) -> Iterator[Endpoints]:
    """The given endpoint, or moto (plus DynamoDB Local for the tables) in this process."""
    if options.aws_endpoint:
        yield Endpoints(
            options.aws_endpoint, options.aws_endpoint, f"{options.aws_endpoint} (--aws-endpoint)", False
        )
        return
    # engines loads moto and boto3 (≈0.5 s): imported here, so that `send` and `dump` start fast
    from clerk_sync_local.engines import DynamoDBLocalEngine, EngineError, MotoEngine

    try:
        with contextlib.ExitStack() as engines:
            moto = engines.enter_context(MotoEngine())
            if options.backend == "dynamodb-local":
                data = directory / "dynamodb"
                dynamodb = engines.enter_context(DynamoDBLocalEngine(state_dir=data)).endpoint
                description = (
                    f"{moto.endpoint} (moto: SQS, SES); DynamoDB Local {dynamodb}, data in {_shown(data)}"
                )
            else:
                dynamodb, description = moto.endpoint, f"{moto.endpoint} (moto: DynamoDB, SQS, SES)"
            yield Endpoints(moto.endpoint, dynamodb, description, True)
    except EngineError as error:
        raise DevError(str(error)) from None


def _provision(endpoints: Endpoints, template: Template, region: str) -> Provisioned:
    from botocore.exceptions import BotoCoreError, ClientError

    from clerk_sync_local.provision import ProvisionError, ResourceNames, provision

    try:
        return provision(
            dynamodb_endpoint=endpoints.dynamodb,
            sqs_endpoint=endpoints.aws,
            names=ResourceNames.from_env(os.environ),
            region=region,
            template=template,
        )
    except (BotoCoreError, ClientError, ProvisionError) as error:
        raise DevError(
            f"cannot provision the template's tables and queues at {endpoints.aws}: {error}"
        ) from None


def _refs(provisioned: Provisioned) -> dict[str, str]:
    """What `!Ref` returns for the provisioned tables (name) and queues (URL), by logical id."""
    from clerk_sync_local.provision import DEAD_LETTER_QUEUE_ID, QUEUE_ID

    queues = {QUEUE_ID: provisioned.queue_url, DEAD_LETTER_QUEUE_ID: provisioned.dead_letter_queue_url}
    return {**provisioned.tables, **queues}


def _table_variables(provisioned: Provisioned) -> dict[str, str]:
    """Table names keyed by the configuration variable that names them (USERS_TABLE, …)."""
    from clerk_sync_local.provision import TABLE_ENV_VARS

    return {TABLE_ENV_VARS[logical_id]: name for logical_id, name in provisioned.tables.items()}


def _point_aws_at(endpoints: Endpoints, region: str) -> None:
    """This process is the functions' container: every AWS call goes to the local endpoints."""
    stale = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
    for name in (*stale, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_ENDPOINT_URL=endpoints.aws,
        AWS_ENDPOINT_URL_DYNAMODB=endpoints.dynamodb,
    )


def _store_signing_secret(template: Template, specs: Iterable[FunctionSpec], secret: str) -> dict[str, str]:
    """Put the signing secret in the Secrets Manager secret(s) the functions read it from
    (`CLERK_WEBHOOK_SIGNING_SECRET_ARN: !Ref X`); their ARNs by logical id."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    declared = resources(template, SECRET_TYPE)
    wanted = {
        value["Ref"]
        for spec in specs
        for name, value in spec.variables.items()
        if name == SECRET_ARN_ENV and isinstance(value, dict) and value.get("Ref") in declared
    }
    client = boto3.client("secretsmanager")
    arns = {}
    for logical_id in sorted(wanted):
        name = _secret_name(logical_id)
        try:
            try:
                arns[logical_id] = client.create_secret(Name=name, SecretString=secret)["ARN"]
            except client.exceptions.ResourceExistsException:
                arns[logical_id] = client.put_secret_value(SecretId=name, SecretString=secret)["ARN"]
        except (BotoCoreError, ClientError) as error:
            raise DevError(f"cannot store the signing secret in Secrets Manager as {name}: {error}") from None
    return arns


def _secret_name(logical_id: str) -> str:
    return f"clerk-sync-{logical_id}"


def _export_environment(local: LocalResources, specs: Iterable[FunctionSpec]) -> None:
    """Every function's variables, resolved, in this process's environment (before their imports)."""
    merged: dict[str, tuple[str, str]] = {}
    for spec in specs:
        for name, value in local.environment(spec).items():
            if name in merged and merged[name][1] != value:
                raise DevError(
                    f"{merged[name][0]} and {spec.logical_id} set {name} differently; "
                    "the local stack runs both in one process and needs one value"
                )
            merged[name] = (spec.logical_id, value)
    os.environ.update({name: value for name, (_, value) in merged.items()})


def _write_sam_env(
    path: Path, local: LocalResources, specs: Iterable[FunctionSpec], endpoints: Endpoints
) -> None:
    """An env file for `sam local start-api --env-vars`: each function's variables for this stack.

    SAM sets only variables the template declares: AWS_ENDPOINT_URL* take effect once it declares them.
    """
    aws = {"AWS_ENDPOINT_URL": endpoints.aws, "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb}
    functions = {spec.logical_id: {**local.environment(spec), **aws} for spec in specs}
    _write_private(path, json.dumps(functions, indent=2) + "\n")


def _verify_sender() -> None:
    """moto's SES sends only from verified identities: verify SENDER_EMAIL when it is set."""
    sender = os.environ.get("SENDER_EMAIL")
    if sender:
        import boto3

        boto3.client("sesv2").create_email_identity(EmailIdentity=sender)


def _load_http_function(spec: FunctionSpec, logs: FunctionLogs) -> LocalFunction:
    try:
        return LocalFunction(spec, logs)
    except DevError:
        raise
    except Exception as error:
        raise DevError(
            f"{spec.logical_id} ({spec.handler}) failed to load: {type(error).__name__}: {error}"
        ) from None


def _workers(
    specs: Iterable[FunctionSpec],
    local: LocalResources,
    logs: FunctionLogs,
    endpoints: Endpoints,
    region: str,
) -> tuple[list[QueueWorker], list[str]]:
    """A worker per SQS event; functions that cannot load yet are reported, not fatal."""
    from clerk_sync_local.engines import sqs_client

    workers: list[QueueWorker] = []
    skipped: list[str] = []
    for spec in specs:
        mappings = event_source_mappings(spec, local)
        if not mappings:
            continue
        try:
            function = LocalFunction(spec, logs)
        except Exception as error:
            skipped.append(
                f"{spec.logical_id} not started: {spec.handler} cannot be loaded "
                f"({type(error).__name__}: {error}); its messages stay on the queue"
            )
            continue
        sqs = sqs_client(endpoints.aws, region)
        workers += [QueueWorker(sqs, local.refs[m.queue_id], m, function, region) for m in mappings]
    return workers, skipped


def _stop_threads(server: FunctionUrlServer, stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    server.shutdown()
    for thread in threads:
        thread.join(timeout=POLL_WAIT_SECONDS + 35)


def _banner(
    options: DevOptions,
    info: ConnectionInfo,
    secret_origin: str,
    endpoints: Endpoints,
    provisioned: Provisioned,
    workers: list[QueueWorker],
    skipped: list[str],
    directory: Path,
) -> None:
    flag = "" if directory == DEFAULT_STATE_DIR.resolve() else f" --state-dir {_shown(directory)}"
    backend = "--aws-endpoint" if options.aws_endpoint else options.backend
    lines = [
        "",
        f"clerk-sync dev is running ({backend}), with the handlers named in {_shown(options.template_path)}",
        "",
        f"  Webhook URL     {info.url}",
        f"  Signing secret  {info.secret}  ({secret_origin})",
        f"  AWS endpoint    {endpoints.description}",
        f"  Tables          {', '.join(provisioned.tables.values())}",
    ]
    for worker in workers:
        redrive = (
            f", dead-letter queue after {worker.max_receive_count} receives"
            if worker.max_receive_count
            else ""
        )
        lines.append(
            f"  Worker          {worker.mapping.function_id} on {worker.queue_arn.rsplit(':', 1)[-1]} "
            f"(batches of up to {worker.mapping.batch_size}{redrive})"
        )
    lines += [f"  Worker          {line}" for line in skipped]
    lines += [
        f"  Function logs   {_shown(directory / 'logs')}/",
        f"  SAM env file    {_shown(directory / SAM_ENV_FILE)}  (for sam local start-api --env-vars)",
        "",
        "Next, in another terminal:",
        f"  clerk-sync send user.created{flag}",
        f"  clerk-sync dump{flag}",
        "",
        "Ctrl-C stops everything. One line per delivery follows:",
    ]
    say("\n".join(lines))


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
