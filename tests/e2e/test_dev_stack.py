"""`clerk-sync dev` end to end, on each backend: a subprocess on a free port, every bundled event type
posted with `clerk-sync send`, the tables read back with `clerk-sync dump --json`, then a Ctrl-C that
must stop everything (no Java or other child process left behind). Then raw HTTP requests over a
socket: the endpoint must route and read them as a Function URL does.

Below that, the stack's pieces in-process: the Function URL event, and the SQS event source mapping
(batches, partial failures, redrive to the dead-letter queue) with a stand-in handler.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from clerk_sync.domain.tables import Table
from clerk_sync_local.cli.send import SAMPLES_DIR, event_body, freshen, sample_types, svix_headers
from clerk_sync_local.emulator.engines import sqs_client
from clerk_sync_local.stack.dev import LOCAL_SENDER
from clerk_sync_local.stack.function_url import (
    MAX_REQUEST_BYTES,
    BodyRefused,
    delivery_line,
    function_url_event,
    function_url_response,
    read_body,
)
from clerk_sync_local.stack.functions import FunctionLogs, FunctionSpec, LocalFunction
from clerk_sync_local.stack.provision import ResourceNames, provision
from clerk_sync_local.stack.queue_worker import BatchResult, EventSourceMapping, QueueWorker
from cli_output import send_answers

CLI = str(Path(sys.executable).with_name("clerk-sync"))
TYPES = sample_types()
SESSION_STATUS = {
    "session.created": "active",
    "session.ended": "ended",
    "session.removed": "removed",
    "session.revoked": "revoked",
    "session.pending": "pending",
}
STARTUP_SECONDS = 90
SENDER = "welcome@example.com"  # the worker sends e-mails (through moto's SES) only with a sender


@dataclass
class DevStack:
    """A running `clerk-sync dev` and the lines it printed so far."""

    process: subprocess.Popen[str]
    state_dir: Path
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, env=self.env, timeout=60, check=False
        )

    def send(self, *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """`clerk-sync send …`: it prints `POST URL TYPE MSG_ID` then `STATUS BODY` per event."""
        result = self.cli("send", *args)
        assert "Traceback" not in result.stderr, result.stderr
        return result, send_answers(result.stdout)

    def wait_for_line(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r} in:\n{self.output}")


def start(
    tmp_path: Path, backend: str, sender: str | None = SENDER, environ: dict[str, str] | None = None
) -> DevStack:
    """`clerk-sync dev` with SENDER_EMAIL=`sender` (None: unset, as under a plain `make dev`), and
    `environ` set (e.g. the template's parameters: CHANGE_FEED=false)."""
    state_dir = tmp_path / "state"
    env = {**os.environ, "CLERK_SYNC_STATE_DIR": str(state_dir)}
    env.pop("CLERK_WEBHOOK_SIGNING_SECRET", None)
    env.pop("SENDER_EMAIL", None)
    env.pop("CHANGE_FEED", None)
    if sender is not None:
        env["SENDER_EMAIL"] = sender
    env.update(environ or {})
    process = subprocess.Popen(
        [CLI, "dev", "--port", "0", "--backend", backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    stack = DevStack(process, state_dir, env)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (state_dir / "dev.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"clerk-sync dev did not start:\n{stack.output}")
        time.sleep(0.1)
    stack.wait_for_line("One line per delivery follows")
    return stack


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rpartition(")")[2].split()[:2]
            table[int(entry.name)] = (int(ppid), state)
    return table


def descendants(pid: int) -> set[int]:
    table = process_table()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (parent, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    entry = process_table().get(pid)
    return entry is not None and entry[1] != "Z"


@pytest.fixture(params=["moto", "dynamodb-local"])
def dev(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    stack = start(tmp_path, request.param)
    yield stack
    if stack.process.poll() is None:  # the test failed before its own Ctrl-C
        stack.process.kill()
        stack.process.wait()


def test_every_sample_lands_in_the_tables_and_ctrl_c_leaves_nothing_behind(dev: DevStack, tmp_path: Path):
    info = json.loads((dev.state_dir / "dev.json").read_text())
    assert info["url"] in dev.output and info["secret"] in dev.output
    assert "clerk-sync send user.created" in dev.output and "clerk-sync dump" in dev.output

    # every bundled type with one `clerk-sync send`, fresh ids each
    result, answers = dev.send(*TYPES)
    assert result.returncode == 0, result.stderr
    sent = {answer["type"]: answer for answer in answers}
    for kind in TYPES:
        assert sent[kind] == {"http": 200, "status": "applied", "type": kind, "id": sent[kind]["id"]}, kind

    # one event referring to another through --set; a replay of the same svix id and body
    user_id = sent["user.created"]["id"]
    _, [updated] = dev.send(
        "user.updated", "--set", f"data.id={user_id}", "--set", "data.first_name=Ann-Marie"
    )
    assert (updated["status"], updated["id"]) == ("applied", user_id)
    event_file = tmp_path / "organization.json"
    event_file.write_text((SAMPLES_DIR / "organization.created.json").read_text())
    _, replayed = dev.send(str(event_file), str(event_file), "--id", "msg_replayed")
    assert [answer["status"] for answer in replayed] == ["applied", "duplicate"]

    # a wrong secret is refused, and `send` says so with its exit code
    refused, [answer] = dev.send("user.created", "--secret", "whsec_" + base64.b64encode(b"x" * 24).decode())
    assert (refused.returncode, answer["http"]) == (1, 401)

    # a field the schema cannot store is a permanent problem: 400 naming it (never 503, never the value)
    rejected, [answer] = dev.send("user.created", "--set", "data.username=123")
    assert (rejected.returncode, answer) == (1, {"http": 400, "error": "data.username: expected a string"})

    # the receiver's answers are in the tables
    dump = dev.cli("dump", "--json")
    assert dump.returncode == 0, dump.stderr
    tables = json.loads(dump.stdout)
    assert sorted(tables) == sorted(table.value for table in Table)
    users = {item["id"]: item for item in tables["users"]}
    assert users[user_id]["first_name"] == "Ann-Marie"
    assert users[user_id]["last_name"] == "Stone"  # the whole record is the update's
    assert sent["user.updated"]["id"] in users
    assert users[sent["user.deleted"]["id"]]["deleted"] is True
    organizations = {item["id"]: item for item in tables["organizations"]}
    assert organizations[sent["organization.created"]["id"]]["slug"] == "acme-inc"
    assert organizations[sent["organization.updated"]["id"]]["name"] == "Globex Corporation"
    assert organizations[sent["organization.deleted"]["id"]]["deleted"] is True
    assert json.loads(event_file.read_text())["data"]["id"] in organizations
    memberships = {item.get("id"): item for item in tables["memberships"]}
    assert memberships[sent["organizationMembership.created"]["id"]]["role"] == "org:member"
    assert memberships[sent["organizationMembership.updated"]["id"]]["role"] == "org:admin"
    assert [item["deleted"] for item in tables["memberships"] if "id" not in item] == [True]
    sessions = {item["id"]: item for item in tables["sessions"]}
    for kind, status in SESSION_STATUS.items():
        assert sessions[sent[kind]["id"]]["status"] == status
    text = dev.cli("dump", "users")
    assert text.returncode == 0 and text.stdout.startswith("users (") and user_id in text.stdout

    # one line per delivery, and the worker took the side effects off the queue
    for kind in sent:
        line = dev.wait_for_line(f"  {kind} ")
        assert " 200  applied " in line
    assert "welcome_email" in dev.wait_for_line("welcome_email")

    # the worker's e-mails, as moto's SES captured them: user.created's welcome, email.created's delivery
    dev.wait_for_line("deliver_email")
    dumped = dev.cli("dump", "emails", "--json")
    assert dumped.returncode == 0, dumped.stderr
    emails = json.loads(dumped.stdout)["emails"]
    delegated = json.loads((SAMPLES_DIR / "email.created.json").read_text())["data"]
    assert sorted((m["subject"], m["source"]) for m in emails) == sorted(
        [("Welcome!", SENDER), (delegated["subject"], SENDER)]
    )
    listed = dev.cli("dump", "emails")
    assert listed.returncode == 0 and listed.stdout.startswith("emails (2)")
    assert "Hi Ann," in listed.stdout and delegated["to_email_address"] in listed.stdout

    # the worker's SMS, as moto's SNS captured them: sms.created's delegated delivery
    dev.wait_for_line("deliver_sms")
    dumped = dev.cli("dump", "sms", "--json")
    assert dumped.returncode == 0, dumped.stderr
    texted = json.loads((SAMPLES_DIR / "sms.created.json").read_text())["data"]
    [sms] = json.loads(dumped.stdout)["sms"]
    assert (sms["phone_number"], sms["message"]) == (texted["to_phone_number"], texted["message"])
    listed = dev.cli("dump", "sms")
    assert listed.returncode == 0 and listed.stdout.startswith("sms (1)")
    assert texted["to_phone_number"] in listed.stdout and texted["message"][:40] in listed.stdout
    both = json.loads(dev.cli("dump", "users", "emails", "sms", "--json").stdout)
    assert list(both) == ["users", "emails", "sms"] and len(both["sms"]) == 1

    # Ctrl-C: a clean exit, and nothing it started is left running
    children = descendants(dev.process.pid)
    if "dynamodb-local" in dev.output:
        assert children, "DynamoDB Local should run as a child process"
    dev.process.send_signal(signal.SIGINT)
    assert dev.process.wait(timeout=30) == 0, dev.output
    assert [pid for pid in children if alive(pid)] == []
    assert dev.wait_for_line("stopped")
    assert not (dev.state_dir / "dev.json").exists()
    assert "Traceback" not in dev.output


def plant_unconfirmed_claim(dev: DevStack, channel: str, key: str, message: dict[str, Any]) -> None:
    """The claim a crash between claiming and sending leaves (two minutes old), in the dev stack's
    idempotency table: what `clerk-sync emails|sms unconfirmed` lists."""
    info = json.loads((dev.state_dir / "dev.json").read_text())
    kind, svix_id, target = key.split("#")
    now = int(time.time())
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=info["dynamodb_endpoint"], region_name=info["region"],
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    dynamodb.put_item(
        TableName=info["tables"]["IDEMPOTENCY_TABLE"],
        Item={
            "id": {"S": f"claim#{key}"},
            "unconfirmed": {"S": channel},
            "claimed_at": {"N": str(now - 120)},
            "kind": {"S": kind},
            "target": {"S": target},
            "svix_id": {"S": svix_id},
            "message": {"S": json.dumps(message)},
            "expiration": {"N": str(now + 86400)},
        },
    )


def test_unconfirmed_emails_are_listed_and_resent_with_the_cli(dev: DevStack):
    """An e-mail whose outcome is unknown (here: a claim left as a crash after claiming leaves it) is
    listed by `clerk-sync emails unconfirmed` and sent once by `clerk-sync emails resend`."""
    key = "welcome_email#msg_e2e_unconfirmed#user_e2e"
    to = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    message = {"kind": "welcome_email", "svix_id": "msg_e2e_unconfirmed", "user_id": "user_e2e", "email": to}
    plant_unconfirmed_claim(dev, "email", key, message)
    listed = dev.cli("emails", "unconfirmed")
    assert listed.returncode == 0, listed.stderr
    assert (
        listed.stdout.startswith("unconfirmed e-mails (1)") and key in listed.stdout and to in listed.stdout
    )
    assert dev.cli("emails", "unconfirmed", "--older-than", "600").stdout.startswith(
        "unconfirmed e-mails (0)"
    )
    resent = dev.cli("emails", "resend", key)
    assert (resent.returncode, resent.stdout.strip()) == (0, f"{key}: sent"), resent.stderr
    emails = json.loads(dev.cli("dump", "emails", "--json").stdout)["emails"]
    assert [m["subject"] for m in emails if to in m["destinations"]["ToAddresses"]] == ["Welcome!"]
    assert dev.cli("emails", "unconfirmed", "--json").stdout == ""
    again = dev.cli("emails", "resend", key)
    assert again.returncode == 1 and "not unconfirmed" in again.stdout
    usage = dev.cli("emails", "resend")
    assert usage.returncode == 2 and "clerk-sync: error: resend needs the KEY" in usage.stderr


def test_unconfirmed_sms_are_listed_and_resent_with_the_cli(dev: DevStack):
    """An SMS whose outcome is unknown (a claim as a crash after claiming leaves it) is listed by
    `clerk-sync sms unconfirmed`, not by `emails unconfirmed`, and sent once by `clerk-sync sms resend`."""
    key = "deliver_sms#msg_e2e_sms#sms_e2e"
    to = "+1555" + str(uuid.uuid4().int)[:10]
    message = {
        "kind": "deliver_sms",
        "svix_id": "msg_e2e_sms",
        "sms_id": "sms_e2e",
        "to_phone_number": to,
        "message": "Your code is 111222",
    }
    plant_unconfirmed_claim(dev, "sms", key, message)
    listed = dev.cli("sms", "unconfirmed")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("unconfirmed SMS (1)") and key in listed.stdout and to in listed.stdout
    assert "clerk-sync sms resend KEY" in listed.stdout
    assert dev.cli("emails", "unconfirmed").stdout.startswith("unconfirmed e-mails (0)")
    [line] = [json.loads(line) for line in dev.cli("sms", "unconfirmed", "--json").stdout.splitlines()]
    assert (line["key"], line["kind"], line["to"]) == (key, "deliver_sms", to)
    resent = dev.cli("sms", "resend", key)
    assert (resent.returncode, resent.stdout.strip()) == (0, f"{key}: sent"), resent.stderr
    texts = json.loads(dev.cli("dump", "sms", "--json").stdout)["sms"]
    assert [m["message"] for m in texts if m["phone_number"] == to] == ["Your code is 111222"]
    assert dev.cli("sms", "unconfirmed", "--json").stdout == ""
    again = dev.cli("sms", "resend", key)
    assert again.returncode == 1 and "not unconfirmed" in again.stdout
    usage = dev.cli("sms", "resend")
    assert usage.returncode == 2 and "clerk-sync sms unconfirmed` lists them" in usage.stderr


def test_a_plain_start_sends_e_mails_from_the_local_default_sender(tmp_path: Path):
    """What `make dev` does (no SENDER_EMAIL): the banner says e-mails are on, and `dump emails`
    shows the welcome e-mail of a user.created."""
    stack = start(tmp_path, "moto", sender=None)
    try:
        assert stack.wait_for_line("  E-mail  ").endswith(
            f"on, from {LOCAL_SENDER} (the local default; SENDER_EMAIL= turns e-mails off), "
            "kept by moto's SES: clerk-sync dump emails"
        )
        assert stack.wait_for_line("  SMS  ").endswith(
            "on, kept by moto's SNS (SMS_ENABLED=false turns them off): clerk-sync dump sms"
        )
        result, [answer] = stack.send("user.created")
        assert answer["status"] == "applied", result.stdout
        assert "1 done" in stack.wait_for_line("(welcome_email)")
        listed = stack.cli("dump", "emails")
        assert listed.returncode == 0 and listed.stdout.startswith("emails (1)"), listed.stdout
        assert LOCAL_SENDER in listed.stdout and "Welcome!" in listed.stdout
        # the functions' JSON logs go to their log files, not to the terminal
        assert [line for line in stack.lines if line.startswith("{")] == []
        assert '"message":"effect"' in (stack.state_dir / "logs" / "SideEffectsFunction.log").read_text()
    finally:
        stack.process.kill()
        stack.process.wait()


def test_with_e_mails_off_the_banner_and_dump_emails_say_why_none_were_sent(tmp_path: Path):
    stack = start(tmp_path, "moto", sender="")
    try:
        assert "off: SENDER_EMAIL is empty, the worker skips every e-mail" in stack.wait_for_line(
            "  E-mail  "
        )
        stack.send("user.created")
        stack.wait_for_line("(welcome_email)")
        listed = stack.cli("dump", "emails")
        assert listed.returncode == 0 and listed.stdout.startswith("emails (0)")
        assert "SENDER_EMAIL empty" in listed.stdout and "skipped_no_sender" in listed.stdout
        as_json = stack.cli("dump", "emails", "--json")
        assert json.loads(as_json.stdout) == {"emails": []} and "skipped_no_sender" in as_json.stderr
    finally:
        stack.process.kill()
        stack.process.wait()


# --- the endpoint reads and routes like a Function URL: raw requests over a socket ------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One `clerk-sync dev` (moto) for every raw request below."""
    stack = start(tmp_path_factory.mktemp("endpoint"), "moto")
    yield stack
    stack.process.kill()
    stack.process.wait()


def exchange(stack: DevStack, request: bytes) -> tuple[int, bytes]:
    """Send `request` byte for byte to the stack's HTTP server; the answer's status and body."""
    url = urlsplit(json.loads((stack.state_dir / "dev.json").read_text())["url"])
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=60) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, response.read()


def raw_request(method: str, target: str, headers: dict[str, str], body: bytes, chunks: int = 0) -> bytes:
    """An HTTP/1.1 request, headers encoded as UTF-8; the body in `chunks` chunks (0: Content-Length)."""
    lines = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1", "connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if chunks:
        size = -(-len(body) // chunks)
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        lines.append("transfer-encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    else:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_user(stack: DevStack, svix_id: str) -> tuple[bytes, dict[str, str], str]:
    """A fresh user.created, its signed headers and its user id."""
    body, _ = event_body("user.created", [], int(time.time() * 1000))
    secret = json.loads((stack.state_dir / "dev.json").read_text())["secret"]
    headers = {"content-type": "application/json", **svix_headers(secret, svix_id, body)}
    return body, headers, json.loads(body)["data"]["id"]


def tables(stack: DevStack) -> dict[str, Any]:
    dump = stack.cli("dump", "--json")
    assert dump.returncode == 0, dump.stderr
    return json.loads(dump.stdout)


def test_endpoint_a_doubled_leading_slash_is_another_path(endpoint: DevStack):
    """`//webhooks/clerk` reaches the handler as it was sent (no slash collapsing): its route is a 404."""
    body, headers, _ = signed_user(endpoint, f"msg_slashes_{uuid.uuid4().hex}")
    before = tables(endpoint)
    status, answer = exchange(endpoint, raw_request("POST", "//webhooks/clerk", headers, body))
    assert (status, json.loads(answer)) == (404, {"error": "not found"})
    assert tables(endpoint) == before
    assert "POST //webhooks/clerk" in endpoint.wait_for_line(headers["svix-id"])


def test_endpoint_reads_a_chunked_body(endpoint: DevStack):
    body, headers, user_id = signed_user(endpoint, f"msg_chunked_{uuid.uuid4().hex}")
    status, answer = exchange(endpoint, raw_request("POST", "/webhooks/clerk", headers, body, chunks=3))
    assert (status, json.loads(answer)) == (200, {"status": "applied", "type": "user.created", "id": user_id})
    assert user_id in {user["id"] for user in tables(endpoint)["users"]}


@pytest.mark.parametrize("method", ["get", "Patch", "PURGE", "brew"])
def test_endpoint_passes_any_other_method_to_the_handler(endpoint: DevStack, method: str):
    """Any case, any token: the handler answers its own JSON 405 (as deployed), not the server an HTML 501."""
    body, headers, _ = signed_user(endpoint, f"msg_{method}_{uuid.uuid4().hex}")
    before = tables(endpoint)
    status, answer = exchange(endpoint, raw_request(method, "/webhooks/clerk", headers, body))
    assert (status, json.loads(answer)) == (405, {"error": "method not allowed"})
    assert tables(endpoint) == before


def test_endpoint_decodes_header_values_as_utf_8(endpoint: DevStack):
    """A svix id signed as UTF-8 text verifies: the server does not read it as latin-1 (which would be
    a 401). The receiver then refuses it, as no Svix message id is spelt so (400, nothing written)."""
    svix_id = f"msg_é_{uuid.uuid4().hex}"
    body, headers, _ = signed_user(endpoint, svix_id)
    before = tables(endpoint)
    status, answer = exchange(endpoint, raw_request("POST", "/webhooks/clerk", headers, body))
    assert (status, json.loads(answer)) == (400, {"error": "svix-id: not a Svix message id"})
    assert tables(endpoint) == before
    assert " 400  svix-id: not a Svix message id" in endpoint.wait_for_line(svix_id)


def test_endpoint_answers_a_deeply_nested_body_like_any_rejected_one(endpoint: DevStack):
    """50,000 nested arrays: a 400 payload problem from the handler, one ordinary line, no traceback."""
    svix_id = f"msg_deep_{uuid.uuid4().hex}"
    body = b"[" * 50_000 + b"]" * 50_000
    secret = json.loads((endpoint.state_dir / "dev.json").read_text())["secret"]
    headers = {"content-type": "application/json", **svix_headers(secret, svix_id, body)}
    before = tables(endpoint)
    status, answer = exchange(endpoint, raw_request("POST", "/webhooks/clerk", headers, body))
    assert (status, json.loads(answer)) == (400, {"error": "body is not JSON"})
    assert tables(endpoint) == before
    line = endpoint.wait_for_line(svix_id)
    assert "  -  " in line and " 400  body is not JSON " in line  # no event type, the handler's reason
    time.sleep(0.5)  # a traceback would follow the answer
    assert "Traceback" not in endpoint.output and "RecursionError" not in endpoint.output


# --- the pieces, in-process -------------------------------------------------------------------------


def test_function_url_event_has_the_payload_v2_shape():
    headers = [
        ("Content-Type", "application/json"),
        ("Svix-Id", "msg_1"),
        ("X-Many", "a"),
        ("x-many", "b"),
        ("Cookie", "a=1; b=2"),
        ("Host", "127.0.0.1:3000"),
    ]
    event = function_url_event("post", "/webhooks/clerk?x=1&x=2&y=", headers, b'{"type":"ping"}', "127.0.0.1")
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert (event["rawPath"], event["rawQueryString"]) == ("/webhooks/clerk", "x=1&x=2&y=")
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["headers"]["svix-id"] == "msg_1" and event["headers"]["x-many"] == "a,b"
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == ("post", "/webhooks/clerk", "127.0.0.1")
    assert (event["body"], event["isBase64Encoded"]) == ('{"type":"ping"}', False)
    doubled = function_url_event("POST", "//webhooks/clerk?a=1", [], b"", "127.0.0.1")
    assert (doubled["rawPath"], doubled["requestContext"]["http"]["path"]) == ("//webhooks/clerk",) * 2
    assert (doubled["rawQueryString"], doubled["queryStringParameters"]) == ("a=1", {"a": "1"})

    binary = function_url_event("POST", "/", [("content-type", "application/json")], b"\xff\x00", "::1")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\xff\x00"
    empty = function_url_event("GET", "/", [], b"", "127.0.0.1")
    assert "body" not in empty and "queryStringParameters" not in empty


def chunked_request(encoding: str, framing: bytes, content_length: str | None = None) -> tuple[int, bytes]:
    """read_body over `framing`: the body read, or the status it was refused with."""
    headers = Message()
    headers["transfer-encoding"] = encoding
    if content_length is not None:
        headers["content-length"] = content_length
    try:
        return 200, read_body(headers, io.BytesIO(framing))
    except BodyRefused as refused:
        return refused.status, b""


def test_a_chunked_body_is_read_whole():
    framing = b'4;name=value\r\n{"a"\r\nB\r\n:"0123456"}\r\n0\r\ntrailer: t\r\n\r\n'
    assert chunked_request("chunked", framing) == (200, b'{"a":"0123456"}')
    assert chunked_request("Chunked", b"0\r\n\r\n", content_length="99") == (200, b"")  # the chunks decide
    too_large = b"%x\r\n" % (MAX_REQUEST_BYTES + 1)
    for framing, status in [
        (b"zz\r\nab\r\n0\r\n\r\n", 400),  # a size that is not hex
        (b"-1\r\n", 400),
        (b"4\r\nab", 400),  # cut short
        (b"2\r\nabc\r\n0\r\n\r\n", 400),  # more data than the size says
        (b"2\r\nab\r\n", 400),  # no last chunk
        (too_large, 413),
    ]:
        assert chunked_request("chunked", framing)[0] == status, framing
    assert chunked_request("gzip, chunked", b"0\r\n\r\n")[0] == 501


def test_a_content_length_body_is_read_up_to_the_function_url_limit():
    headers = Message()
    headers["content-length"] = "3"
    assert read_body(headers, io.BytesIO(b"abcdef")) == b"abc"
    for length, status in [("x", 400), ("-1", 400), (str(MAX_REQUEST_BYTES + 1), 413)]:
        headers.replace_header("content-length", length)
        with pytest.raises(BodyRefused) as refused:
            read_body(headers, io.BytesIO(b""))
        assert refused.value.status == status


def test_the_delivery_line_of_a_deeply_nested_body_has_no_event_type():
    event = function_url_event("POST", "/webhooks/clerk", [("svix-id", "msg_1")], b"[" * 50_000, "::1")
    line = delivery_line(event, 400, b'{"error":"body is not JSON"}', 1.0)
    assert "  msg_1  " in line and "  -  " in line and "  400  body is not JSON  " in line


def test_function_url_response_passes_the_handler_answer_through():
    answer = {"statusCode": 401, "headers": {"content-type": "application/json"}, "body": '{"error":"x"}'}
    assert function_url_response(answer) == (401, [("content-type", "application/json")], b'{"error":"x"}')
    encoded = {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}
    assert function_url_response(encoded)[2] == b"\x00"
    assert function_url_response({"ok": True}) == (
        200,
        [("content-type", "application/json")],
        b'{"ok": true}',
    )


def test_samples_get_fresh_ids_consistently_and_shifted_timestamps():
    original = json.loads((SAMPLES_DIR / "session.created.json").read_text())
    fresh = freshen(original, now_ms=original["timestamp"] + 1_000)
    data, before = fresh["data"], original["data"]
    assert (
        data["id"] != before["id"]
        and data["id"].startswith("sess_2")
        and len(data["id"]) == len(before["id"])
    )
    assert data["user_id"] == data["user"]["id"] != before["user_id"]  # one new id wherever the old one was
    assert fresh["instance_id"] == original["instance_id"]
    assert fresh["timestamp"] == original["timestamp"] + 1_000
    assert data["expire_at"] - data["created_at"] == before["expire_at"] - before["created_at"]
    assert freshen(original, 0)["data"]["id"] != freshen(original, 0)["data"]["id"]


STAND_IN = """
import json, time

def handler(event, context):
    print("EVENT", json.dumps(event))
    bodies = {r["messageId"]: json.loads(r["body"]) for r in event["Records"]}
    print("batch", sorted(b["n"] for b in bodies.values()), context.get_remaining_time_in_millis() > 0)
    if any(b.get("raise") for b in bodies.values()):
        raise RuntimeError("boom")
    if any(b.get("sleep") for b in bodies.values()):
        time.sleep(0.2)
    if any(b.get("bogus") for b in bodies.values()):
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
    return {"batchItemFailures": [{"itemIdentifier": i} for i, b in bodies.items() if b.get("fail")]}
"""


@dataclass
class WorkerRig:
    worker: QueueWorker
    logs: FunctionLogs
    sqs: Any
    queue_url: str
    dead_letter_queue_url: str

    @property
    def log(self) -> str:
        return (self.logs.directory / "StandIn.log").read_text()

    def send(self, **body: Any) -> str:
        return self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(body),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )["MessageId"]

    def poll(self) -> BatchResult | None:
        # routed here, not in the fixture: pytest re-assigns sys.stdout between setup and call
        with self.logs.installed():
            return self.worker.poll(wait_seconds=0)

    def waiting(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url or self.queue_url, AttributeNames=["All"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def rig(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkerRig:
    """A worker over a fresh copy of the template's queues (no visibility timeout, to retry at once)."""
    names = ResourceNames.from_env({}).prefixed(f"worker-{uuid.uuid4().hex[:8]}-")
    provisioned = provision(dynamodb_endpoint=moto_endpoint, sqs_endpoint=moto_endpoint, names=names)
    sqs = sqs_client(moto_endpoint)
    sqs.set_queue_attributes(QueueUrl=provisioned.queue_url, Attributes={"VisibilityTimeout": "0"})
    module = f"stand_in_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(STAND_IN)
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = FunctionSpec("StandIn", f"{module}.handler", tmp_path, 0.1, 128, {}, {}, False)
    logs = FunctionLogs(tmp_path / "logs")
    mapping = EventSourceMapping("StandIn", "SideEffectsQueue", 10, 0, True)
    worker = QueueWorker(sqs, provisioned.queue_url, mapping, LocalFunction(spec, logs), "us-east-1")
    return WorkerRig(worker, logs, sqs, provisioned.queue_url, provisioned.dead_letter_queue_url)


def test_worker_deletes_what_succeeded_and_redrive_moves_failures_to_the_dlq(rig: WorkerRig):
    ok, failing = rig.send(n=1), rig.send(n=2, fail=True)
    result = rig.poll()
    assert result is not None and (result.received, result.failed) == (2, frozenset({failing}))
    assert "1 done, 1 left on the queue (dead-letter queue after 5 receives)" in rig.worker.describe(result)
    assert rig.waiting() == 1
    assert "batch [1, 2] True" in rig.log  # the handler's output went to its log

    receives = 1
    while rig.waiting(rig.dead_letter_queue_url) == 0 and receives < 10:
        rig.poll()
        receives += 1
    assert receives == 6  # received 5 times, then moved by SQS on the next receive
    moved = rig.sqs.receive_message(QueueUrl=rig.dead_letter_queue_url)["Messages"]
    assert [m["MessageId"] for m in moved] == [failing] and ok != failing


def test_worker_builds_lambda_sqs_records(rig: WorkerRig):
    message_id = rig.send(n=1)
    rig.poll()
    [logged] = [line for line in rig.log.splitlines() if line.startswith("EVENT ")]
    [record] = json.loads(logged.removeprefix("EVENT "))["Records"]
    assert record["messageId"] == message_id and json.loads(record["body"]) == {"n": 1}
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == rig.worker.queue_arn
    assert record["awsRegion"] == "us-east-1" and record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["origin"]["stringValue"] == "test"
    assert record["messageAttributes"]["origin"]["dataType"] == "String"
    assert {"receiptHandle", "md5OfBody"} <= set(record)


@pytest.mark.parametrize("body", [{"raise": True}, {"bogus": True}, {"sleep": True}])
def test_a_failed_invocation_deletes_nothing(rig: WorkerRig, body: dict[str, Any]):
    """The handler raised, answered an id not in the batch, or overran its Timeout."""
    rig.send(n=1)
    rig.send(n=2, **body)
    result = rig.poll()
    assert result is not None and len(result.failed) == 2
    assert rig.waiting() == 2
    if "raise" in body:
        assert "RuntimeError: boom" in (result.invocation.error or "")
        assert "Traceback" in rig.log
    if "sleep" in body:
        assert (result.invocation.error or "").startswith("Task timed out after")
