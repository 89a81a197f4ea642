"""`clerk-sync send`: post realistic Clerk events, signed with svix's own signer, to a receiver.

A bundled sample (one per event type the receiver handles, shaped like Clerk's payloads) gets fresh
Clerk ids and timestamps on every send; a JSON file is sent as it is. `--set data.first_name=Ann`
changes a field by dotted path and `--add` creates one (overrides.py), so one event can refer to
another; `--print` shows the payload instead of sending it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clerk_sync.settings import SECRET_ENV, ConfigError, parse_signing_secrets

from clerk_sync_local.cli.exit_codes import FAILED, USAGE
from clerk_sync_local.cli.overrides import Override, OverrideError, apply
from clerk_sync_local.stack.state import ConnectionInfo, NotRunningError

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
TIMEOUT_SECONDS = 15.0  # Svix gives up on an attempt after 15 s
USER_AGENT = "clerk-sync-send/0.1 (svix-signed)"
# Clerk ids: a lower-case prefix and 27 base62 characters (the instance id stays as it is)
_CLERK_ID = re.compile(r"^(?!ins_)[a-z]+(?:_[a-z]+)*_[0-9A-Za-z]{27}$")
_BASE62 = string.digits + string.ascii_letters
# The fields of Clerk's payloads that hold a time in ms: `timestamp`, `*_at`, `*_date` (a subscription
# item's `next_payment_date`, a payment attempt's `billing_date`) and a billing period's bounds.
_TIME_FIELD = re.compile(r"^(?:timestamp|.+_at|.+_date|period_start|period_end)$")


class SendError(Exception):
    """Bad input: an unknown event type, an unreadable file, a bad --set, --add or secret, a bad URL."""

    exit_code = USAGE


class UnreachableError(SendError):
    """Nothing answered at the URL."""

    exit_code = FAILED


@dataclass(frozen=True)
class Destination:
    """Where to send, and the secret to sign with."""

    url: str
    secret: str


def sample_types() -> list[str]:
    """The event types with a bundled sample, sorted."""
    return sorted(path.stem for path in SAMPLES_DIR.glob("*.json"))


def clerk_id(prefix: str) -> str:
    """A fresh id shaped like Clerk's (`user_2…`, 27 characters after the prefix)."""
    return f"{prefix}_2" + "".join(secrets.choice(_BASE62) for _ in range(26))


def freshen(payload: Any, now_ms: int) -> Any:
    """The payload with new Clerk ids (the same new id wherever an old one appeared) and every time
    (`timestamp`, `*_at`, `*_date`, billing periods) moved by the same amount, so that the envelope is
    stamped `now_ms` and the times keep their order and distances to it (a period still running)."""
    stamp = payload.get("timestamp") if isinstance(payload, dict) else None
    shift = now_ms - stamp if isinstance(stamp, int) else 0
    renamed: dict[str, str] = {}

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {name: walk(inner, name) for name, inner in value.items()}
        if isinstance(value, list):
            return [walk(inner) for inner in value]
        if isinstance(value, str) and _CLERK_ID.match(value):
            return renamed.setdefault(value, clerk_id(value[:-28]))
        if type(value) is int and _TIME_FIELD.match(key):
            return value + shift
        return value

    return walk(payload)


def event_body(source: str, overrides: Sequence[Override], now_ms: int) -> tuple[bytes, str]:
    """The body to send and its event type, from a sample name or a JSON file."""
    if source in sample_types():
        payload = freshen(json.loads((SAMPLES_DIR / f"{source}.json").read_text(encoding="utf-8")), now_ms)
    else:
        path = Path(source)
        if not path.exists() and "/" not in source and not source.endswith(".json"):
            known = ", ".join(sample_types())
            raise SendError(f"unknown event type {source!r}: choose one of {known}, or give a JSON file")
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise SendError(f"cannot read {source}: {error.strerror or error}") from None
        try:
            payload = json.loads(raw)
        except ValueError as error:
            raise SendError(f"{source} is not JSON: {error}") from None
        if not overrides:
            return raw, _event_type(payload)
    for override in overrides:
        try:
            apply(payload, override)
        except OverrideError as error:
            raise SendError(f"{source}: {error}") from None
    return json.dumps(payload, separators=(",", ":")).encode(), _event_type(payload)


def _event_type(payload: Any) -> str:
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else "-"


def svix_headers(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    """The three svix headers, signed with svix's own signer (first secret when several are given)."""
    try:
        parse_signing_secrets(secret)
        text = body.decode("utf-8")
    except ConfigError as error:
        raise SendError(str(error).replace(SECRET_ENV, "the secret")) from None
    except UnicodeDecodeError:
        raise SendError("the body is not UTF-8: svix signs text") from None
    from svix.webhooks import Webhook  # svix loads its whole API client (≈0.6 s): only when sending

    now = datetime.now(UTC)
    first = re.split(r"[\s,]+", secret.strip())[0]
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(first).sign(msg_id, now, text),
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST the body; the status and response text, whatever the status (no proxy: local URLs)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except urllib.error.URLError as error:
        reason = getattr(error.reason, "strerror", None) or error.reason
        raise UnreachableError(f"cannot reach {url}: {reason} (is `clerk-sync dev` running?)") from None
    except TimeoutError:
        raise UnreachableError(f"no answer from {url} within {TIMEOUT_SECONDS:g} s") from None


def target(url: str | None, secret: str | None, state_dir: Path, environ: Mapping[str, str]) -> Destination:
    """--url and --secret, else those of the running `clerk-sync dev` (its dev.json), else (secret only)
    $CLERK_WEBHOOK_SIGNING_SECRET."""
    info = ConnectionInfo.load_running(state_dir)
    url = url or (info.url if info else None)
    secret = secret or (info.secret if info else None) or environ.get(SECRET_ENV)
    if not url or not secret:
        missing = " and ".join(name for name, value in (("--url", url), ("--secret", secret)) if not value)
        raise NotRunningError(state_dir, f"pass {missing}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SendError(f"bad URL {url!r}: expected http(s)://host:port/path")
    return Destination(url=url, secret=secret)


def run(
    sources: Sequence[str],
    *,
    url: str | None,
    secret: str | None,
    state_dir: Path,
    msg_id: str | None = None,
    overrides: Sequence[Override] = (),
    print_only: bool = False,
) -> int:
    """Send each event in turn and print each answer; 0 when every status is 2xx, else 1.

    Every input is checked before anything is sent. `msg_id` applies to every event (sending one file
    twice with one id is a replay). `print_only` prints each payload (indented JSON) and sends nothing.
    """
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    events = [event_body(source, overrides, now_ms) for source in sources]
    if print_only:
        for body, _ in events:
            print(json.dumps(json.loads(body), indent=2), flush=True)
        return 0
    to = target(url, secret, state_dir, os.environ)
    all_ok = True
    for body, event_type in events:
        message = msg_id or clerk_id("msg")
        headers = svix_headers(to.secret, message, body)
        print(f"POST {to.url}  {event_type}  {message}", flush=True)
        status, answer = post(to.url, body, headers)
        print(f"{status} {answer}", flush=True)
        all_ok = all_ok and 200 <= status < 300
    return 0 if all_ok else 1
