"""An HTTP proxy between the worker's SES v2 (or SNS) client and moto, over real sockets, that injects
the faults deliveries meet: a refusal before SES sees the request, throttling (HTTP 429, also
enforced as a sending-rate limit), and an answer lost after SES accepted (sent) the e-mail.

It also answers GetAccount (moto does not) with the configured sending quota, and records every
SendEmail request it forwarded, per recipient: a recipient forwarded twice received two e-mails.
SNS `Publish` requests to a phone number (query protocol: a form body) meet the same faults, with
SNS's XML error answers, and are recorded per phone number.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SEND_PATH = "/v2/email/outbound-emails"
ACCOUNT_PATH = "/v2/email/account"
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date", "server"})


@dataclass
class SesFaults:
    """What the proxy does to SendEmail requests (probabilities per request, seeded)."""

    seed: int = 0
    fail_before: float = 0.0  # answered 503 by the proxy: SES never saw it
    throttle: float = 0.0  # answered 429 TooManyRequestsException: SES never saw it
    drop_after: float = 0.0  # forwarded (SES sent it), then the connection closed without an answer
    drop_before: float = 0.0  # the connection closed without an answer, nothing forwarded
    max_send_rate: float | None = None  # sends accepted per second (more: 429), and GetAccount's rate
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def decide(self) -> str:
        """The fate of one SendEmail request."""
        roll = self._random.random()
        for fate, probability in (
            ("fail_before", self.fail_before),
            ("throttle", self.throttle),
            ("drop_after", self.drop_after),
            ("drop_before", self.drop_before),
        ):
            if roll < probability:
                return fate
            roll -= probability
        return "forward"


@dataclass
class SesProxy:
    """What the proxy saw: fates and, per recipient, the SendEmail requests forwarded to SES."""

    url: str
    faults: SesFaults
    fates: Counter[str] = field(default_factory=Counter)
    forwarded: Counter[str] = field(default_factory=Counter)  # recipient -> requests SES received
    dropped_after: set[str] = field(default_factory=set)
    dropped_before: set[str] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)  # recipient -> requests that reached the proxy


def _phone_number(body: bytes) -> str | None:
    """The phone number of an SNS Publish request (None: another request)."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if form.get("Action") != ["Publish"]:
        return None
    return form.get("PhoneNumber", ["?"])[0]


def _recipient(body: bytes) -> str:
    try:
        return str(json.loads(body)["Destination"]["ToAddresses"][0])
    except (ValueError, KeyError, IndexError, TypeError):
        return "?"


@contextmanager
def ses_proxy(upstream: str, faults: SesFaults) -> Iterator[SesProxy]:
    """Run the proxy on 127.0.0.1 in front of `upstream` (moto) until the block ends."""
    target = urlsplit(upstream)
    lock = threading.Lock()
    window: collections.deque[float] = collections.deque()
    seen: SesProxy

    def over_rate() -> bool:
        if faults.max_send_rate is None:
            return False
        with lock:
            now = time.monotonic()
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= faults.max_send_rate:
                return True
            window.append(now)
            return False

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, payload: dict[str, Any], error_type: str | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            if error_type:
                self.send_header("x-amzn-ErrorType", error_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer_xml(self, status: int, code: str) -> None:
            data = (
                '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>injected</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ).encode()
            self.send_response(status)
            self.send_header("content-type", "text/xml")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            return response.status, response.getheaders(), data

        def _relay(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drop(self) -> None:
            self.close_connection = True  # no answer at all: the client sees the connection close

        def do_GET(self) -> None:
            if self.path.startswith(ACCOUNT_PATH) and faults.max_send_rate is not None:
                self._answer(
                    200,
                    {
                        "SendQuota": {
                            "Max24HourSend": 1_000_000.0,
                            "MaxSendRate": float(faults.max_send_rate),
                            "SentLast24Hours": 0.0,
                        },
                        "SendingEnabled": True,
                        "ProductionAccessEnabled": True,
                        "EnforcementStatus": "HEALTHY",
                    },
                )
                return
            self._relay(*self._forward(b""))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            phone = None if self.path.startswith(SEND_PATH) else _phone_number(body)
            if not self.path.startswith(SEND_PATH) and phone is None:
                self._relay(*self._forward(body))
                return
            to = phone or _recipient(body)
            with lock:
                seen.requests[to] += 1
                fate = faults.decide()
            if fate == "forward" and over_rate():
                fate = "rate_limited"
            with lock:
                seen.fates[fate] += 1
            if fate == "fail_before" and phone is not None:
                self._answer_xml(500, "InternalError")
            elif fate in ("throttle", "rate_limited") and phone is not None:
                self._answer_xml(400, "Throttling")
            elif fate == "fail_before":
                self._answer(503, {"message": "injected: service unavailable"}, "ServiceUnavailable")
            elif fate in ("throttle", "rate_limited"):
                self._answer(429, {"message": "Maximum sending rate exceeded."}, "TooManyRequestsException")
            elif fate == "drop_before":
                with lock:
                    seen.dropped_before.add(to)
                self._drop()
            else:
                answer = self._forward(body)
                with lock:
                    seen.forwarded[to] += 1
                if fate == "drop_after":
                    with lock:
                        seen.dropped_after.add(to)
                    self._drop()
                else:
                    self._relay(*answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    seen = SesProxy(url=f"http://127.0.0.1:{server.server_address[1]}", faults=faults)
    thread = threading.Thread(target=server.serve_forever, name="ses-proxy", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
