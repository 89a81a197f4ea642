"""Where a sub-command reads and writes, resolved the same way for `backfill`, `emails` and `dump`.

In order: `--endpoint` (a local engine) with `--region`; else the running `clerk-sync dev` (its
`<state>/dev.json`, the state folder of stack/state.py); else the environment (AWS_ENDPOINT_URL_DYNAMODB
or AWS_ENDPOINT_URL, AWS_REGION, the table variables). With no endpoint at all, the target is real AWS
with the default credential chain, which only `backfill` and a sub-command given `--aws` work on: the
others (`dump`, `emails`, `sms`) stop there as `send` does, saying that no running `clerk-sync dev` was
found (`resolve_running`, exit 4). A sub-command that would write to real AWS says so (account, region,
tables) and needs `--aws` (`require_write_access`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from clerk_sync.settings import (
    DYNAMODB_ENDPOINT_ENV,
    ENDPOINT_ENV,
    QUEUE_URL_ENV,
    SENDER_EMAIL_ENV,
    Tables,
    read_tables,
)

from clerk_sync_local.cli.exit_codes import USAGE
from clerk_sync_local.stack.state import (
    CONNECTION_FILE,
    ConnectionInfo,
    NotRunningError,
    local_region,
    state_dir,
)

if TYPE_CHECKING:
    from clerk_sync.adapters.aws_clients import Endpoints

LOOPBACK = ("://127.0.0.1", "://localhost", "://[::1]")
Kind = Literal["dev", "local", "aws"]


class TargetError(Exception):
    """The target cannot be used as asked (exit code 2, one line)."""

    exit_code = USAGE


@dataclass(frozen=True)
class Target:
    """The tables (and the engines behind them) a sub-command works on."""

    kind: Kind
    """dev: the running `clerk-sync dev`; local: an explicit endpoint on this machine; aws: real AWS."""
    origin: str
    """Where this came from, for the operator."""
    region: str
    dynamodb_endpoint: str | None
    aws_endpoint: str | None
    """SQS, SES, SNS and Secrets Manager (moto's, for the dev stack)."""
    tables: Tables
    sender_email: str
    queue_url: str
    dev: ConnectionInfo | None = None

    @property
    def local(self) -> bool:
        """True when the engines are on this machine (dummy credentials are fine)."""
        return self.kind != "aws"

    def endpoints(self) -> Endpoints:
        """The functions' endpoint settings for this target."""
        from clerk_sync.adapters.aws_clients import Endpoints

        return Endpoints(
            dynamodb=self.dynamodb_endpoint,
            sqs=self.aws_endpoint,
            ses=self.aws_endpoint,
            sns=self.aws_endpoint,
            secretsmanager=self.aws_endpoint,
            region=self.region,
        )

    def describe(self, names: tuple[str, ...]) -> str:
        """The engine, region and the named tables (short names: users, idempotency, …)."""
        where = self.dynamodb_endpoint or "AWS"
        tables = ", ".join(self.tables.named(name) for name in names)
        return f"DynamoDB {where}, region {self.region}, tables {tables} (from {self.origin})"


def resolve(
    environ: Mapping[str, str],
    endpoint: str | None = None,
    region: str | None = None,
    state: Path | None = None,
) -> Target:
    """Flags, else the running `clerk-sync dev`, else the environment."""
    folder = state_dir(state)
    info = None if endpoint else ConnectionInfo.load_running(folder)
    if info is not None:
        return Target(
            kind="dev",
            origin=f"the running `clerk-sync dev` ({folder / CONNECTION_FILE})",
            region=region or info.region,
            dynamodb_endpoint=info.dynamodb_endpoint,
            aws_endpoint=info.aws_endpoint,
            tables=read_tables({**environ, **info.tables}),
            sender_email=info.sender_email,
            queue_url=info.queue_url,
            dev=info,
        )
    found = endpoint or environ.get(DYNAMODB_ENDPOINT_ENV) or environ.get(ENDPOINT_ENV)
    local = any(host in (found or "") for host in LOOPBACK)
    return Target(
        kind="local" if local else "aws",
        origin="--endpoint" if endpoint else "the environment",
        region=region or local_region(environ),
        dynamodb_endpoint=found or None,
        aws_endpoint=endpoint or environ.get(ENDPOINT_ENV) or found or None,
        tables=read_tables(environ),
        sender_email=environ.get(SENDER_EMAIL_ENV, ""),
        queue_url=environ.get(QUEUE_URL_ENV, ""),
    )


def resolve_running(
    environ: Mapping[str, str],
    endpoint: str | None,
    region: str | None,
    state: Path | None,
    alternative: str,
    allow_aws: bool = False,
) -> Target:
    """`resolve`, for a sub-command that works on a running stack: with no running `clerk-sync dev` and
    no endpoint (nor `allow_aws`, its `--aws`), NotRunningError (exit 4), whose `alternative` says what
    else the sub-command takes (`pass --endpoint`)."""
    found = resolve(environ, endpoint, region, state)
    if found.dynamodb_endpoint is None and not allow_aws:
        raise NotRunningError(state_dir(state), alternative)
    return found


def require_write_access(
    target: Target,
    allow_aws: bool,
    what: str,
    names: tuple[str, ...],
    stream: TextIO = sys.stderr,
    where: str | None = None,
) -> None:
    """Before the first write: on real AWS, refuse without `--aws`; with it, say where it goes (the
    tables `names`, or `where` for a sub-command that writes elsewhere)."""
    if target.local:
        return
    described = where or target.describe(names)
    if not allow_aws:
        raise TargetError(
            f"no running `clerk-sync dev` and no local endpoint: {what} would write to real AWS "
            f"({described}); pass --aws to do that, or start `make dev`"
        )
    account = _account(target)
    print(f"{what}: writing to AWS account {account}, {described}", file=stream, flush=True)


def _account(target: Target) -> str:
    """The caller's AWS account id, or why it is not known."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1})
    try:
        identity = boto3.client("sts", region_name=target.region, config=config).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        return f"unknown ({type(error).__name__})"
    return str(identity["Account"])
