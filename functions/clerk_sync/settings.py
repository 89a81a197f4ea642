"""Configuration, read from the environment once into frozen objects: the only module that names
environment variables (the ones Powertools and botocore read for themselves aside)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clerk_sync.domain.deadline import CleanupBudget
from clerk_sync.domain.tables import TABLES, Table

if TYPE_CHECKING:  # the change feed's module, only for the ChangesFunction (readers import this one)
    from clerk_sync.domain.changes import ChangeDetail

SECRET_ENV = "CLERK_WEBHOOK_SIGNING_SECRET"
SECRET_ARN_ENV = "CLERK_WEBHOOK_SIGNING_SECRET_ARN"
SECRET_PREFIX = "whsec_"

QUEUE_URL_ENV = "SIDE_EFFECTS_QUEUE_URL"
IDEMPOTENCY = "idempotency"
IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE"
# Each table's short name (a synced table's `Table` value, or `idempotency`) -> the variable naming it
# (the synced tables' are declared with them in domain/tables.py).
TABLE_VARIABLES: Mapping[str, str] = {
    **{table.value: spec.variable for table, spec in TABLES.items()},
    IDEMPOTENCY: IDEMPOTENCY_TABLE_ENV,
}
# Variable -> the name used when it is not set (the local stack's names).
DEFAULT_TABLES: Mapping[str, str] = {
    **{spec.variable: spec.default_name for spec in TABLES.values()},
    IDEMPOTENCY_TABLE_ENV: "clerk-sync-idempotency",
}
DEFAULT_QUEUE_NAME = "clerk-sync-side-effects"
QUEUE_NAME_ENV = "SIDE_EFFECTS_QUEUE_NAME"  # the local tooling's: the queue `clerk-sync dev` creates
SENDER_EMAIL_ENV = "SENDER_EMAIL"
EXTENSIONS_ENV = "CLERK_SYNC_EXTENSIONS"
CLEANUP_SLICE_SECONDS_ENV = "CLEANUP_SLICE_SECONDS"
CLEANUP_MARGIN_SECONDS_ENV = "CLEANUP_MARGIN_SECONDS"
SES_MAX_SEND_RATE_ENV = "SES_MAX_SEND_RATE"
WORKER_MAX_CONCURRENCY_ENV = "WORKER_MAX_CONCURRENCY"
STORE_COMPLETE_OBJECTS_ENV = "STORE_COMPLETE_OBJECTS"  # the template's StoreCompleteObjects

# botocore's own variables, which local engines are reached through (`clerk-sync env` prints them).
REGION_ENV = "AWS_REGION"  # what Lambda sets
DEFAULT_REGION_ENV = "AWS_DEFAULT_REGION"  # what developers usually set
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
DYNAMODB_ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
SQS_ENDPOINT_ENV = "AWS_ENDPOINT_URL_SQS"

# Powertools' own variables: the names it is read with, and those the tooling sets for quiet runs.
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
METRICS_DISABLED_ENV = "POWERTOOLS_METRICS_DISABLED"
LOG_LEVEL_ENV = "POWERTOOLS_LOG_LEVEL"


class ConfigError(Exception):
    """The environment does not describe a usable configuration (raised at start-up)."""


@dataclass(frozen=True)
class Tables:
    """DynamoDB table names: each synced table's, and the functions' own (idempotency)."""

    names: Mapping[Table, str]
    idempotency: str

    def __post_init__(self) -> None:
        missing = [table.value for table in Table if not self.names.get(table)]
        if missing:
            raise ConfigError(f"no table name for {', '.join(missing)}")

    def name_of(self, table: Table) -> str:
        """The physical name of a synced table."""
        return self.names[table]

    def named(self, short_name: str) -> str:
        """The physical name of a table by short name (a key of TABLE_VARIABLES)."""
        return self.idempotency if short_name == IDEMPOTENCY else self.names[Table(short_name)]


@dataclass(frozen=True)
class Config:
    """Everything the functions read from their environment."""

    signing_keys: tuple[bytes, ...]
    """Keys from CLERK_WEBHOOK_SIGNING_SECRET; empty when they are read from Secrets Manager instead."""
    tables: Tables
    side_effects_queue_url: str
    signing_secret_arn: str | None = None
    """CLERK_WEBHOOK_SIGNING_SECRET_ARN, used only when CLERK_WEBHOOK_SIGNING_SECRET is not set."""
    store_complete_objects: bool = True
    """STORE_COMPLETE_OBJECTS: records keep Clerk's complete object (`clerk`); false: the typed
    attributes only."""


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


def default_table(name: str) -> str:
    """The local default of a table by short name (a `Table`, or `idempotency`)."""
    return DEFAULT_TABLES[TABLE_VARIABLES[name]]


def read_store_complete_objects(env: Mapping[str, str]) -> bool:
    """STORE_COMPLETE_OBJECTS: `true` or unset (the default) stores Clerk's complete object in every
    live record, `false` does not (ConfigError: anything else)."""
    raw = env.get(STORE_COMPLETE_OBJECTS_ENV, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigError(f"{STORE_COMPLETE_OBJECTS_ENV} must be true or false, not {raw[:20]!r}")
    return raw != "false"


def read_tables(env: Mapping[str, str]) -> Tables:
    """Table names from the environment, with the local defaults."""
    names = {
        name: env.get(variable) or DEFAULT_TABLES[variable] for name, variable in TABLE_VARIABLES.items()
    }
    return Tables({table: names[table.value] for table in Table}, names[IDEMPOTENCY])


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
    queue_url = env.get(QUEUE_URL_ENV)
    if not queue_url:
        raise ConfigError(f"{QUEUE_URL_ENV} is not set: the receiver hands slow work to that queue")
    complete = read_store_complete_objects(env)
    if raw_secret is not None:  # the local/dev source wins over the secret
        return Config(
            signing_keys=parse_signing_secrets(raw_secret),
            tables=tables,
            side_effects_queue_url=queue_url,
            store_complete_objects=complete,
        )
    return Config(
        signing_keys=(),
        tables=tables,
        side_effects_queue_url=queue_url,
        signing_secret_arn=secret_arn,
        store_complete_objects=complete,
    )


SMS_ENABLED_ENV = "SMS_ENABLED"
SMS_ORIGINATION_NUMBER_ENV = "SMS_ORIGINATION_NUMBER"
SMS_SENDER_ID_ENV = "SMS_SENDER_ID"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{1,11}")


@dataclass(frozen=True)
class SmsConfig:
    """How the worker sends delegated Clerk text messages (SNS Publish to a phone number)."""

    origination_number: str | None = None
    """SMS_ORIGINATION_NUMBER: the E.164 number to send from (None: the account's default)."""
    sender_id: str | None = None
    """SMS_SENDER_ID: the alphanumeric sender id, where the destination country supports one."""


def read_sms_config(env: Mapping[str, str], *, enabled: bool | None = None) -> SmsConfig | None:
    """SMS delivery as configured (None: off, SMS_ENABLED not `true`); `enabled` overrides
    SMS_ENABLED (a resend by the command line)."""
    raw = env.get(SMS_ENABLED_ENV, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigError(f"{SMS_ENABLED_ENV} must be true or false, not {raw[:20]!r}")
    if not (raw == "true" if enabled is None else enabled):
        return None
    number = env.get(SMS_ORIGINATION_NUMBER_ENV, "").strip() or None
    if number is not None and not _E164.fullmatch(number):
        raise ConfigError(f"{SMS_ORIGINATION_NUMBER_ENV} must be an E.164 number such as +15550100")
    sender_id = env.get(SMS_SENDER_ID_ENV, "").strip() or None
    if sender_id is not None and not _SENDER_ID.fullmatch(sender_id):
        raise ConfigError(f"{SMS_SENDER_ID_ENV} must be 1 to 11 letters and digits, at least one letter")
    return SmsConfig(origination_number=number, sender_id=sender_id)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the SideEffectsFunction reads from its environment."""

    tables: Tables
    sender_email: str | None
    extension_modules: tuple[str, ...]
    side_effects_queue_url: str
    """SIDE_EFFECTS_QUEUE_URL: the queue the worker consumes (continuations and hand-backs go to it)."""
    cleanup: CleanupBudget = field(default_factory=CleanupBudget)
    ses_max_send_rate: float | None = None
    """SES_MAX_SEND_RATE: the account's SES sending rate per second; None = ask SES (GetAccount)."""
    max_concurrency: int = 1
    """WORKER_MAX_CONCURRENCY: most worker containers at once, which share the sending rate."""
    sms: SmsConfig | None = None
    """SMS_ENABLED and its settings: None = delegated SMS are skipped (and counted)."""


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
    modules = tuple(m for m in re.split(r"[\s,]+", env.get(EXTENSIONS_ENV, "")) if m)
    queue_url = env.get(QUEUE_URL_ENV)
    if not queue_url:
        raise ConfigError(f"{QUEUE_URL_ENV} is not set: the worker hands long clean-ups on through it")
    defaults = CleanupBudget()
    return WorkerConfig(
        tables=read_tables(env),
        sender_email=env.get(SENDER_EMAIL_ENV) or None,
        extension_modules=modules,
        side_effects_queue_url=queue_url,
        cleanup=CleanupBudget(
            slice_seconds=_positive(env, CLEANUP_SLICE_SECONDS_ENV) or defaults.slice_seconds,
            margin_seconds=_positive(env, CLEANUP_MARGIN_SECONDS_ENV) or defaults.margin_seconds,
        ),
        ses_max_send_rate=_positive(env, SES_MAX_SEND_RATE_ENV, zero_unsets=True),
        max_concurrency=int(_positive(env, WORKER_MAX_CONCURRENCY_ENV, int) or 1),
        sms=read_sms_config(env),
    )


CLERK_SECRET_KEY_ENV = "CLERK_SECRET_KEY"
CLERK_SECRET_KEY_ARN_ENV = "CLERK_SECRET_KEY_ARN"
CLERK_API_URL_ENV = "CLERK_API_URL"
RECONCILE_DRY_RUN_ENV = "RECONCILE_DRY_RUN"
RECONCILE_WORKERS_ENV = "RECONCILE_WORKERS"
DEFAULT_API_URL = "https://api.clerk.com/v1"
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class ReconcileConfig:
    """Everything ReconcileFunction (and `clerk-sync backfill`) reads from its environment."""

    tables: Tables
    secret_key: str | None
    """CLERK_SECRET_KEY (local runs); None when it is read from CLERK_SECRET_KEY_ARN instead."""
    secret_key_arn: str | None
    api_url: str = DEFAULT_API_URL
    workers: int = DEFAULT_WORKERS
    dry_run: bool = False
    store_complete_objects: bool = True
    """STORE_COMPLETE_OBJECTS, as for the receiver."""


def load_reconcile_config(environ: Mapping[str, str] | None = None) -> ReconcileConfig:
    """The reconcile run's configuration; raises ConfigError when no secret key source is set."""
    env = os.environ if environ is None else environ
    secret_key = env.get(CLERK_SECRET_KEY_ENV, "").strip() or None
    secret_key_arn = env.get(CLERK_SECRET_KEY_ARN_ENV) or None
    if secret_key is None and secret_key_arn is None:
        raise ConfigError(f"set {CLERK_SECRET_KEY_ARN_ENV} (Secrets Manager) or {CLERK_SECRET_KEY_ENV}")
    return ReconcileConfig(
        tables=read_tables(env),
        secret_key=secret_key,
        secret_key_arn=secret_key_arn,
        api_url=env.get(CLERK_API_URL_ENV) or DEFAULT_API_URL,
        workers=int(_positive(env, RECONCILE_WORKERS_ENV, int) or DEFAULT_WORKERS),
        dry_run=env.get(RECONCILE_DRY_RUN_ENV, "").lower() in ("1", "true", "yes"),
        store_complete_objects=read_store_complete_objects(env),
    )


@dataclass(frozen=True)
class ReadConfig:
    """What `clerk_sync.read.ClerkData.from_environment` reads: the functions' table names and region,
    and for first-use sync CLERK_SECRET_KEY and CLERK_API_URL."""

    tables: Tables
    region: str | None
    clerk_secret_key: str | None
    clerk_api_url: str
    store_complete_objects: bool = True
    """STORE_COMPLETE_OBJECTS, for what first-use sync writes."""


def load_read_config(environ: Mapping[str, str] | None = None) -> ReadConfig:
    """The read library's configuration (no variable is required)."""
    env = os.environ if environ is None else environ
    return ReadConfig(
        tables=read_tables(env),
        region=aws_region(env),
        clerk_secret_key=env.get(CLERK_SECRET_KEY_ENV, "").strip() or None,
        clerk_api_url=env.get(CLERK_API_URL_ENV) or DEFAULT_API_URL,
        store_complete_objects=read_store_complete_objects(env),
    )


def aws_region(environ: Mapping[str, str] | None = None) -> str | None:
    """The region Lambda (AWS_REGION) or the developer (AWS_DEFAULT_REGION) set, if any."""
    env = os.environ if environ is None else environ
    return env.get(REGION_ENV) or env.get(DEFAULT_REGION_ENV) or None


def telemetry_names(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The Powertools service name and metrics namespace (POWERTOOLS_SERVICE_NAME, …_METRICS_NAMESPACE)."""
    env = os.environ if environ is None else environ
    return (
        env.get(SERVICE_NAME_ENV, "clerk-sync"),
        env.get(METRICS_NAMESPACE_ENV, "ClerkSync"),
    )


CHANGES_BUS_ENV = "CHANGES_BUS_NAME"
CHANGE_DETAIL_ENV = "CHANGE_DETAIL"  # the template's ChangeDetail
# The tooling's: the stream mappings' on-failure queue (the stack's ChangesFailedQueueUrl output), which
# `clerk-sync changes republish --aws` reads.
CHANGES_FAILED_QUEUE_URL_ENV = "CHANGES_FAILED_QUEUE_URL"


@dataclass(frozen=True)
class ChangesConfig:
    """Everything the ChangesFunction reads from its environment."""

    tables: Tables
    bus_name: str
    """CHANGES_BUS_NAME: the EventBridge bus the change feed's events go to."""
    contents: ChangeDetail
    """CHANGE_DETAIL: `full` (the records before and after) or `keys` (no record contents)."""

    def table_of(self) -> dict[str, Table]:
        """Each synced table by its physical name (how stream records name it)."""
        return {self.tables.name_of(table): table for table in Table}


def load_changes_config(environ: Mapping[str, str] | None = None) -> ChangesConfig:
    """The ChangesFunction's configuration; raises ConfigError with a readable reason."""
    from clerk_sync.domain.changes import ChangeDetail  # here: see TYPE_CHECKING above

    env = os.environ if environ is None else environ
    bus_name = env.get(CHANGES_BUS_ENV, "").strip()
    if not bus_name:
        raise ConfigError(f"{CHANGES_BUS_ENV} is not set: the change feed publishes to that bus")
    raw = env.get(CHANGE_DETAIL_ENV, "").strip().lower() or ChangeDetail.FULL.value
    if raw not in {d.value for d in ChangeDetail}:
        allowed = " or ".join(d.value for d in ChangeDetail)
        raise ConfigError(f"{CHANGE_DETAIL_ENV} must be {allowed}, not {raw[:20]!r}")
    return ChangesConfig(tables=read_tables(env), bus_name=bus_name, contents=ChangeDetail(raw))
