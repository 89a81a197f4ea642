"""`clerk-sync emails`: list the e-mails whose outcome is unknown, and resend one after checking.

An e-mail is *unconfirmed* when the worker claimed it but never learnt whether SES sent it (an answer
lost after the request left, or the worker dying while sending): it was sent at most once, maybe not
at all. docs/runbook.md says how to check, before `resend`, that it did not arrive.

Where: as every sub-command (cli/target.py): `--endpoint` (a local engine), else the running
`clerk-sync dev`, else AWS with the environment's credentials and table names (IDEMPOTENCY_TABLE,
USERS_TABLE, SENDER_EMAIL), which a `resend` only does with `--aws` and after saying which account,
region and table it writes to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clerk_sync_local.cli.exit_codes import FAILED, NOT_RUNNING, USAGE
from clerk_sync_local.cli.target import Target, TargetError, require_write_access, resolve

if TYPE_CHECKING:  # the worker's modules (boto3, Powertools) load only when the command runs: their
    # loggers must not bind the terminal before `clerk-sync dev` routes output to its log files
    from clerk_sync.adapters.ses import UnconfirmedEmail
    from clerk_sync.app.effects_worker import Worker

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
DEFAULT_AGE_SECONDS = 60  # younger claims may still be on their way to SES


class EmailsError(Exception):
    """A failure `clerk-sync emails` reports in one line."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The `emails` sub-command and its two actions."""
    emails = commands.add_parser(
        "emails",
        parents=parents,
        help="list e-mails whose outcome is unknown, and resend one after checking",
        description=__doc__.split("\n\n")[1],
        epilog="examples:\n  clerk-sync emails unconfirmed\n"
        "  clerk-sync emails resend 'welcome_email#msg_2a…#user_2b…'\n"
        "  IDEMPOTENCY_TABLE=… USERS_TABLE=… SENDER_EMAIL=… clerk-sync emails resend KEY --aws",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emails.add_argument("action", choices=("unconfirmed", "resend"), help="what to do")
    emails.add_argument("keys", nargs="*", metavar="KEY", help="resend: the keys `unconfirmed` lists")
    emails.add_argument(
        "--older-than",
        type=int,
        default=DEFAULT_AGE_SECONDS,
        metavar="SECONDS",
        help="unconfirmed: only claims at least this old (default: %(default)s; younger ones may still "
        "be on their way)",
    )
    emails.add_argument("--json", action="store_true", help="unconfirmed: one JSON object per line")
    emails.add_argument("--endpoint", metavar="URL", help="a local AWS engine (default: the running dev)")
    emails.add_argument("--region", help="AWS region (default: the running dev's, else AWS_REGION)")
    emails.add_argument(
        "--aws", action="store_true", help="resend: allowed to send through real AWS (the environment's)"
    )


def _worker(target: Target, sender: str) -> Worker:
    from clerk_sync.bootstrap.worker import build_worker
    from clerk_sync.settings import WorkerConfig

    if target.local:
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)
    config = WorkerConfig(
        tables=target.tables,
        sender_email=sender,
        extension_modules=(),
        side_effects_queue_url=target.queue_url or "-",
        ses_max_send_rate=1.0,
    )
    return build_worker(config, target.endpoints())


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _recipient(email: UnconfirmedEmail) -> str:
    try:
        fields = json.loads(email.message)
    except ValueError:
        return "-"
    value = fields.get("email") or fields.get("to_email_address") if isinstance(fields, dict) else None
    return str(value) if value else "-"


def list_unconfirmed(target: Target, older_than: int, as_json: bool) -> int:
    """Print the unconfirmed e-mails, oldest first."""
    mailer = _worker(target, target.sender_email or "-").mailer
    assert mailer is not None
    found = list(mailer.unconfirmed(older_than_seconds=older_than))
    now = int(datetime.now(UTC).timestamp())
    if as_json:
        for email in found:
            line = {
                "key": email.key,
                "kind": email.kind,
                "target": email.target,
                "svix_id": email.svix_id,
                "claimed_at": email.claimed_at,
                "to": _recipient(email),
            }
            print(json.dumps(line))
        return 0
    print(f"unconfirmed e-mails ({len(found)}) in {target.origin}, claimed at least {_age(older_than)} ago")
    if found:
        print(f"  {'claimed (UTC)':<19}  {'age':>4}  {'to':<28}  key")
    for email in found:
        claimed = datetime.fromtimestamp(email.claimed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"  {claimed}  {_age(now - email.claimed_at):>4}  {_recipient(email):<28}  {email.key}")
    if found:
        print("Check each one first (docs/runbook.md), then: clerk-sync emails resend KEY")
    return 0


def resend(target: Target, keys: list[str], allow_aws: bool) -> int:
    """Resend each unconfirmed e-mail named; exit 1 unless every one was sent."""
    if not keys:
        raise EmailsError(
            "resend needs the KEY of each e-mail: `clerk-sync emails unconfirmed` lists them", USAGE
        )
    try:
        require_write_access(target, allow_aws, "emails resend", ("idempotency",), sys.stdout)
    except TargetError as error:
        raise EmailsError(str(error), NOT_RUNNING) from None
    if not target.sender_email:
        raise EmailsError("no sender: set SENDER_EMAIL to the worker's sender address", USAGE)
    worker = _worker(target, target.sender_email)
    assert worker.mailer is not None
    failed = 0
    for key in keys:
        email = worker.mailer.unconfirmed_email(key)
        if email is None:
            print(f"{key}: not unconfirmed (sent, resent already, or no such key)")
            failed += 1
            continue
        try:
            outcome = worker.resend(email).get("outcome")
        except Exception as error:  # SES refused: the claim is released, the command may be run again
            print(f"{key}: not sent ({error})")
            failed += 1
            continue
        print(f"{key}: {outcome}")
        failed += outcome != "sent"
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """The sub-command."""
    target = resolve(os.environ, args.endpoint, args.region, args.state_dir)
    if args.action == "unconfirmed":
        if args.keys:
            raise EmailsError("unconfirmed takes no KEY (did you mean `resend`?)", USAGE)
        return list_unconfirmed(target, args.older_than, args.json)
    return resend(target, args.keys, args.aws)
