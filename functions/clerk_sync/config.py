"""Configuration, read from the environment once into a frozen object."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

SECRET_ENV = "CLERK_WEBHOOK_SIGNING_SECRET"
SECRET_ARN_ENV = "CLERK_WEBHOOK_SIGNING_SECRET_ARN"
SECRET_PREFIX = "whsec_"

DEFAULT_TABLES = {
    "USERS_TABLE": "clerk-sync-users",
    "ORGANIZATIONS_TABLE": "clerk-sync-organizations",
    "MEMBERSHIPS_TABLE": "clerk-sync-memberships",
    "SESSIONS_TABLE": "clerk-sync-sessions",
    "IDEMPOTENCY_TABLE": "clerk-sync-idempotency",
}
DEFAULT_QUEUE_NAME = "clerk-sync-side-effects"


class ConfigError(Exception):
    """The environment does not describe a usable configuration (raised at start-up)."""


@dataclass(frozen=True)
class Tables:
    """DynamoDB table names."""

    users: str
    organizations: str
    memberships: str
    sessions: str
    idempotency: str


@dataclass(frozen=True)
class Config:
    """Everything the functions read from their environment."""

    signing_keys: tuple[bytes, ...]
    """Keys from CLERK_WEBHOOK_SIGNING_SECRET; empty when they are read from Secrets Manager instead."""
    tables: Tables
    side_effects_queue_url: str
    signing_secret_arn: str | None = None
    """CLERK_WEBHOOK_SIGNING_SECRET_ARN, used only when CLERK_WEBHOOK_SIGNING_SECRET is not set."""


def parse_signing_secrets(raw: str, source: str = SECRET_ENV) -> tuple[bytes, ...]:
    """Decode one or more `whsec_…` secrets separated by spaces or commas into HMAC keys.

    `source` names where `raw` came from in error messages (which never contain the material).
    """
    parts = [p for p in re.split(r"[\s,]+", raw.strip()) if p]
    if not parts:
        raise ConfigError(f"{source} is empty: set it to the signing secret from the Clerk Dashboard")
    keys: list[bytes] = []
    for index, part in enumerate(parts, start=1):
        if not part.startswith(SECRET_PREFIX):
            raise ConfigError(f"{source}: secret #{index} does not start with '{SECRET_PREFIX}'")
        encoded = part[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{source}: secret #{index} is not valid base64 after '{SECRET_PREFIX}'"
            ) from None
        if not key:
            raise ConfigError(f"{source}: secret #{index} is empty after '{SECRET_PREFIX}'")
        keys.append(key)
    return tuple(keys)


def read_tables(env: Mapping[str, str]) -> Tables:
    """Table names from the environment, with the local defaults."""
    return Tables(
        users=env.get("USERS_TABLE") or DEFAULT_TABLES["USERS_TABLE"],
        organizations=env.get("ORGANIZATIONS_TABLE") or DEFAULT_TABLES["ORGANIZATIONS_TABLE"],
        memberships=env.get("MEMBERSHIPS_TABLE") or DEFAULT_TABLES["MEMBERSHIPS_TABLE"],
        sessions=env.get("SESSIONS_TABLE") or DEFAULT_TABLES["SESSIONS_TABLE"],
        idempotency=env.get("IDEMPOTENCY_TABLE") or DEFAULT_TABLES["IDEMPOTENCY_TABLE"],
    )


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration; raises ConfigError with a readable reason."""
    env = os.environ if environ is None else environ
    raw_secret = env.get(SECRET_ENV)
    secret_arn = env.get(SECRET_ARN_ENV) or None
    if raw_secret is None and secret_arn is None:
        raise ConfigError(
            f"{SECRET_ENV} is not set: set it to the signing secret from the Clerk Dashboard "
            f"(or set {SECRET_ARN_ENV} to a Secrets Manager secret holding it)"
        )
    tables = read_tables(env)
    queue_url = env.get("SIDE_EFFECTS_QUEUE_URL")
    if not queue_url:
        raise ConfigError("SIDE_EFFECTS_QUEUE_URL is not set: the receiver hands slow work to that queue")
    if raw_secret is not None:  # the local/dev source wins over the secret
        return Config(
            signing_keys=parse_signing_secrets(raw_secret), tables=tables, side_effects_queue_url=queue_url
        )
    return Config(
        signing_keys=(), tables=tables, side_effects_queue_url=queue_url, signing_secret_arn=secret_arn
    )


@dataclass(frozen=True)
class CleanupBudget:
    """How long one part of a clean-up may run before it hands the rest on to a continuation message.

    A part stops at `slice_seconds` (so the rest of its batch is not held up behind it) or when the
    invocation has only `margin_seconds` left (to send the continuation and finish the batch).
    """

    slice_seconds: float = 5.0
    margin_seconds: float = 3.0


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the SideEffectsFunction reads from its environment."""

    tables: Tables
    sender_email: str | None
    extension_modules: tuple[str, ...]
    side_effects_queue_url: str
    """SIDE_EFFECTS_QUEUE_URL: the queue the worker consumes (continuations and hand-backs go to it)."""
    cleanup: CleanupBudget = CleanupBudget()
    ses_max_send_rate: float | None = None
    """SES_MAX_SEND_RATE: the account's SES sending rate per second; None = ask SES (GetAccount)."""
    max_concurrency: int = 1
    """WORKER_MAX_CONCURRENCY: most worker containers at once, which share the sending rate."""


def _positive(
    env: Mapping[str, str], name: str, kind: type[int] | type[float] = float, zero_unsets: bool = False
) -> float | None:
    """A positive number from the environment; None when unset (or `0`, where that means unset)."""
    raw = env.get(name, "").strip()
    if not raw or (zero_unsets and raw == "0"):
        return None
    try:
        value: float = kind(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        what = "whole number" if kind is int else "number"
        raise ConfigError(f"{name} must be a positive {what}, not {raw[:20]!r}")
    return value


def load_worker_config(environ: Mapping[str, str] | None = None) -> WorkerConfig:
    """The worker's configuration (no signing secret: it never sees HTTP)."""
    env = os.environ if environ is None else environ
    modules = tuple(m for m in re.split(r"[\s,]+", env.get("CLERK_SYNC_EXTENSIONS", "")) if m)
    queue_url = env.get("SIDE_EFFECTS_QUEUE_URL")
    if not queue_url:
        raise ConfigError("SIDE_EFFECTS_QUEUE_URL is not set: the worker hands long clean-ups on through it")
    defaults = CleanupBudget()
    return WorkerConfig(
        tables=read_tables(env),
        sender_email=env.get("SENDER_EMAIL") or None,
        extension_modules=modules,
        side_effects_queue_url=queue_url,
        cleanup=CleanupBudget(
            slice_seconds=_positive(env, "CLEANUP_SLICE_SECONDS") or defaults.slice_seconds,
            margin_seconds=_positive(env, "CLEANUP_MARGIN_SECONDS") or defaults.margin_seconds,
        ),
        ses_max_send_rate=_positive(env, "SES_MAX_SEND_RATE", zero_unsets=True),
        max_concurrency=int(_positive(env, "WORKER_MAX_CONCURRENCY", int) or 1),
    )
