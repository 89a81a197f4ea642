"""`clerk-sync emails` and `clerk-sync sms`: list the e-mails (or SMS) whose outcome is unknown, and
resend one after checking.

A message is *unconfirmed* when the worker claimed it but never learnt whether SES (or SNS) sent it
(an answer lost after the request left, or the worker dying while sending): it was sent at most once,
maybe not at all. docs/runbook.md says how to check, before `resend`, that it did not arrive.

Where: as every sub-command (cli/target.py): `--endpoint` (a local engine), else the running `clerk-
sync dev`, else, with `--aws` only, AWS with the environment's credentials and table names (the
idempotency and users tables' variables, and SENDER_EMAIL for e-mails, SMS_ORIGINATION_NUMBER /
SMS_SENDER_ID for SMS), where a `resend` first says which account, region and table it writes to.
With none of them, it stops as `send` and `dump` do: no running `clerk-sync dev` found (exit 4).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clerk_sync.domain.effects import Channel
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.settings import ACCESS_KEY_ENV, IDEMPOTENCY_TABLE_ENV, SECRET_ACCESS_KEY_ENV, SENDER_EMAIL_ENV

from clerk_sync_local.cli.exit_codes import FAILED, USAGE
from clerk_sync_local.cli.target import Target, require_write_access, resolve_running
from clerk_sync_local.stack.state import LOCAL_KEY

USERS_TABLE_ENV = TABLES[Table.USERS].variable

if TYPE_CHECKING:  # the worker's modules (boto3, Powertools) load only when the command runs: their
    # loggers must not bind the terminal before `clerk-sync dev` routes output to its log files
    from clerk_sync.adapters.claims import Claims, UnconfirmedSend
    from clerk_sync.app.effects_worker import Worker

DEFAULT_AGE_SECONDS = 60  # younger claims may still be on their way to SES or SNS


@dataclass(frozen=True)
class Outbox:
    """One sub-command: the channel whose unconfirmed sends it lists and resends."""

    command: str
    channel: Channel
    noun: str  # what the lines call one of them
    recipient_fields: tuple[str, ...]  # where the queued message names the recipient
    example_key: str
    aws_example: str


OUTBOXES = {
    outbox.command: outbox
    for outbox in (
        Outbox(
            "emails",
            Channel.EMAIL,
            "e-mails",
            ("email", "to_email_address"),
            "welcome_email#msg_2a…#user_2b…",
            f"{IDEMPOTENCY_TABLE_ENV}=… {USERS_TABLE_ENV}=… {SENDER_EMAIL_ENV}=… "
            "clerk-sync emails resend KEY --aws",
        ),
        Outbox(
            "sms",
            Channel.SMS,
            "SMS",
            ("to_phone_number",),
            "deliver_sms#msg_2a…#sms_2b…",
            f"{IDEMPOTENCY_TABLE_ENV}=… {USERS_TABLE_ENV}=… clerk-sync sms resend KEY --aws",
        ),
    )
}


class EmailsError(Exception):
    """A failure `clerk-sync emails` reports in one line."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The `emails` and `sms` sub-commands and their two actions."""
    for outbox in OUTBOXES.values():
        _add_parser(commands, parents, outbox)


def _add_parser(commands: Any, parents: list[argparse.ArgumentParser], outbox: Outbox) -> None:
    noun = outbox.noun
    parser = commands.add_parser(
        outbox.command,
        parents=parents,
        help=f"list {noun} whose outcome is unknown, and resend one after checking",
        description=__doc__.split("\n\n")[1],
        epilog=f"examples:\n  clerk-sync {outbox.command} unconfirmed\n"
        f"  clerk-sync {outbox.command} resend '{outbox.example_key}'\n  {outbox.aws_example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(outbox=outbox.command)
    parser.add_argument("action", choices=("unconfirmed", "resend"), help="what to do")
    parser.add_argument("keys", nargs="*", metavar="KEY", help="resend: the keys `unconfirmed` lists")
    parser.add_argument(
        "--older-than",
        type=int,
        default=DEFAULT_AGE_SECONDS,
        metavar="SECONDS",
        help="unconfirmed: only claims at least this old (default: %(default)s; younger ones may still "
        "be on their way)",
    )
    parser.add_argument("--json", action="store_true", help="unconfirmed: one JSON object per line")
    parser.add_argument("--endpoint", metavar="URL", help="a local AWS engine (default: the running dev)")
    parser.add_argument("--region", help="AWS region (default: the running dev's, else AWS_REGION)")
    parser.add_argument(
        "--aws",
        action="store_true",
        help="with no running dev and no endpoint: work on real AWS (the environment's credentials, "
        "region and table variables); resend names the account first",
    )


def _worker(target: Target, sender: str) -> Worker:
    """A worker over the target that sends e-mails from `sender`, and SMS as the environment says."""
    from clerk_sync.bootstrap.worker import build_worker
    from clerk_sync.settings import WorkerConfig, read_sms_config

    if target.local:
        for name in (ACCESS_KEY_ENV, SECRET_ACCESS_KEY_ENV):
            os.environ.setdefault(name, LOCAL_KEY)
    config = WorkerConfig(
        tables=target.tables,
        sender_email=sender,
        extension_modules=(),
        side_effects_queue_url=target.queue_url or "-",
        ses_max_send_rate=1.0,
        sms=read_sms_config(os.environ, enabled=True),
    )
    return build_worker(config, target.endpoints())


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _claims(worker: Worker, outbox: Outbox) -> Claims:
    claims = worker.claims(outbox.channel)
    assert claims is not None  # _worker configures both channels
    return claims


def _recipient(sent: UnconfirmedSend, outbox: Outbox) -> str:
    try:
        fields = json.loads(sent.message)
    except ValueError:
        return "-"
    if not isinstance(fields, dict):
        return "-"
    value = next((fields[name] for name in outbox.recipient_fields if fields.get(name)), None)
    return str(value) if value else "-"


def list_unconfirmed(
    target: Target, older_than: int, as_json: bool, outbox: Outbox = OUTBOXES["emails"]
) -> int:
    """Print the unconfirmed e-mails (or SMS), oldest first."""
    claims = _claims(_worker(target, target.sender_email or "-"), outbox)
    found = list(claims.unconfirmed(older_than_seconds=older_than))
    now = int(datetime.now(UTC).timestamp())
    if as_json:
        for email in found:
            line = {
                "key": email.key,
                "kind": email.kind,
                "target": email.target,
                "svix_id": email.svix_id,
                "claimed_at": email.claimed_at,
                "to": _recipient(email, outbox),
            }
            print(json.dumps(line))
        return 0
    print(
        f"unconfirmed {outbox.noun} ({len(found)}) in {target.origin}, "
        f"claimed at least {_age(older_than)} ago"
    )
    if found:
        print(f"  {'claimed (UTC)':<19}  {'age':>4}  {'to':<28}  key")
    for email in found:
        claimed = datetime.fromtimestamp(email.claimed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"  {claimed}  {_age(now - email.claimed_at):>4}  {_recipient(email, outbox):<28}  {email.key}")
    if found:
        print(f"Check each one first (docs/runbook.md), then: clerk-sync {outbox.command} resend KEY")
    return 0


def resend(target: Target, keys: list[str], allow_aws: bool, outbox: Outbox = OUTBOXES["emails"]) -> int:
    """Resend each unconfirmed e-mail (or SMS) named; exit 1 unless every one was sent."""
    command = outbox.command
    require_write_access(target, allow_aws, f"{command} resend", ("idempotency",), sys.stdout)
    if outbox.channel is Channel.EMAIL and not target.sender_email:
        raise EmailsError("no sender: set SENDER_EMAIL to the worker's sender address", USAGE)
    worker = _worker(target, target.sender_email or "-")
    claims = _claims(worker, outbox)
    failed = 0
    for key in keys:
        email = claims.unconfirmed_claim(key)
        if email is None:
            print(f"{key}: not unconfirmed (sent, resent already, or no such key)")
            failed += 1
            continue
        try:
            outcome = worker.resend(email).get("outcome")
        except Exception as error:  # SES or SNS refused: the claim is released, the command may be run again
            print(f"{key}: not sent ({error})")
            failed += 1
            continue
        print(f"{key}: {outcome}")
        failed += outcome != "sent"
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """The sub-command."""
    outbox = OUTBOXES[args.outbox]
    if args.action == "unconfirmed" and args.keys:
        raise EmailsError("unconfirmed takes no KEY (did you mean `resend`?)", USAGE)
    if args.action == "resend" and not args.keys:
        raise EmailsError(
            f"resend needs the KEY of each one: `clerk-sync {outbox.command} unconfirmed` lists them", USAGE
        )
    alternative = "pass --endpoint, or --aws for the stack the environment names on AWS"
    target = resolve_running(os.environ, args.endpoint, args.region, args.state_dir, alternative, args.aws)
    if args.action == "unconfirmed":
        return list_unconfirmed(target, args.older_than, args.json, outbox)
    return resend(target, args.keys, args.aws, outbox)
