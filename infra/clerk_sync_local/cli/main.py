"""The `clerk-sync` command: `dev` runs the local stack, `send` posts signed events, `dump` shows tables,
e-mails and SMS, `env` prints the exports that point application code at the stack; `backfill`,
`emails`/`sms` and `changes` are the operator's (docs/runbook.md).

Every failure ends in one line on stderr, `clerk-sync: error: …`, with the exit codes of
exit_codes.py (one table for every sub-command, docs/local-development.md). Sub-commands load their
modules only when chosen, so that `send` and `dump` do not pay for the engines' imports.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from clerk_sync.domain.tables import TABLES, Table

from clerk_sync_local.cli import backfill as backfill_cli
from clerk_sync_local.cli import changes as changes_cli
from clerk_sync_local.cli import emails as emails_cli
from clerk_sync_local.cli.exit_codes import FAILED, USAGE
from clerk_sync_local.cli.overrides import VALUE_RULE, Override

PROG = "clerk-sync"
DEBUG_ENV = "CLERK_SYNC_DEBUG"  # set to get the traceback of an unexpected error


class UsageError(Exception):
    """The command line is wrong."""

    exit_code = USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one-line UsageErrors instead of usage text and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command."""
    from clerk_sync.settings import DYNAMODB_ENDPOINT_ENV, ENDPOINT_ENV, REGION_ENV

    from clerk_sync_local.stack.dev import BACKENDS, LOCAL_SENDER
    from clerk_sync_local.stack.state import STATE_DIR_ENV

    parser = _Parser(
        prog=PROG,
        description="Clerk webhooks -> DynamoDB, run and poked locally.",
        epilog="examples:\n  clerk-sync dev\n  clerk-sync send user.created\n  clerk-sync dump\n"
        '  eval "$(clerk-sync env)"\n\n'
        "exit codes: 0 ok, 1 refused or failed, 2 usage, 3 incomplete (backfill), 4 no running dev",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    state = _Parser(add_help=False)
    state.add_argument(
        "--state-dir",
        type=Path,
        help=f"local state folder (default: ${STATE_DIR_ENV}, else .local/state beside template.yaml)",
    )

    dev = commands.add_parser(
        "dev",
        parents=[state],
        help="run the receiver and the worker locally, on embedded AWS engines",
        description="Run WebhookFunction behind a Function-URL-shaped HTTP server, SideEffectsFunction "
        "on its queue and, with the change feed on (CHANGE_FEED, the template's default), ChangesFunction on "
        "the tables' streams, with the tables, queues and bus of template.yaml provisioned on moto (or "
        "DynamoDB Local). "
        "Settings from the environment: CLERK_WEBHOOK_SIGNING_SECRET, SENDER_EMAIL (on moto, default "
        f"{LOCAL_SENDER}; empty turns e-mails off), POWERTOOLS_LOG_LEVEL, AWS_REGION, table names.",
        epilog="examples:\n  clerk-sync dev\n  clerk-sync dev --port 3001 --state-dir /tmp/other\n"
        "  clerk-sync dev --backend dynamodb-local\n  SENDER_EMAIL= clerk-sync dev      (e-mails off)\n"
        "  make dev PORT=3001 BACKEND=dynamodb-local HOST=0.0.0.0 STATE_DIR=/tmp/other",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    dev.add_argument(
        "--port", type=int, default=3000, help="port to listen on, 0 for any (default: %(default)s)"
    )
    dev.add_argument(
        "--aws-endpoint", metavar="URL", help="use this AWS endpoint instead of embedded engines"
    )
    dev.add_argument(
        "--backend",
        choices=BACKENDS,
        help="engine for the tables: moto (default) or DynamoDB Local (data kept under the state folder)",
    )

    send = commands.add_parser(
        "send",
        parents=[state],
        help="post realistic, signed Clerk events",
        description="Post Clerk events, one after the other, signed with svix's signer: bundled samples "
        "(fresh ids and timestamps each time) or JSON files. URL and secret default to the running "
        "`clerk-sync dev`. Exit code 1 unless every answer is 2xx.",
        epilog="examples:\n  clerk-sync send user.created\n"
        "  clerk-sync send session.created --print      (prints the payload as JSON; sends nothing)\n"
        "  clerk-sync send session.created --set data.user_id=user_2VaeF3hfuQtmHL3c30imn9JYL7k\n"
        "  clerk-sync send user.created --add data.public_metadata.plan=pro\n"
        "  clerk-sync send event.json event.json --id msg_replay\n\n"
        + textwrap.fill(f"{VALUE_RULE}.", width=100)
        + "\n\n"
        + textwrap.fill("event types: " + ", ".join(_sample_types()), width=100),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument(
        "events", nargs="+", metavar="TYPE|FILE", help="event types (listed at the end) or JSON files"
    )
    send.add_argument("--url", help="receiver URL (default: the running `clerk-sync dev`)")
    send.add_argument("--secret", help="signing secret whsec_… (default: the running `clerk-sync dev`'s)")
    send.add_argument(
        "--id", dest="msg_id", metavar="MSG_ID", help="svix message id (default: a fresh msg_…)"
    )
    send.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=Override,
        metavar="PATH=VALUE",
        help="change a field of the event, e.g. data.first_name=Ann (repeatable; an unknown PATH is an "
        "error; VALUE: see the rule at the end)",
    )
    send.add_argument(
        "--add",
        dest="overrides",
        action="append",
        type=lambda text: Override(text, add=True),
        metavar="PATH=VALUE",
        help="add a field the event does not have yet (repeatable)",
    )
    send.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print each payload (with --set/--add applied) instead of sending; no running dev needed",
    )

    dump = commands.add_parser(
        "dump",
        parents=[state],
        help="print the synced tables, the e-mails and SMS sent locally, or the change feed's events",
        description="Print the synced tables of the running `clerk-sync dev` (every one unless some are "
        "named); `emails` and `sms`: the e-mails and text messages its functions sent, as its embedded "
        "moto captured them; `changes` (alone): the events its change feed's bus received, oldest first, "
        "one line each (with --json: one JSON object a line, each event as the bus received it).",
        epilog="examples:\n  clerk-sync dump\n  clerk-sync dump users sessions\n  clerk-sync dump emails\n"
        "  clerk-sync dump sms\n"
        "  clerk-sync dump changes\n"
        "  clerk-sync dump --json users | jq '.users[].email'\n"
        "  clerk-sync dump changes --json | jq -c '[.\"detail-type\", .detail.key]'\n"
        "  clerk-sync dump --endpoint http://127.0.0.1:8000 --region us-east-1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dump.add_argument(
        "tables",
        nargs="*",
        metavar="TABLE",
        help=f"a synced table ({', '.join(table.value for table in Table)}; the default: every one), "
        "or emails, or sms; or changes, alone",
    )
    dump.add_argument(
        "--json",
        action="store_true",
        help="one JSON object keyed by table name (changes: one JSON object a line, each event)",
    )
    dump.add_argument(
        "--endpoint",
        metavar="URL",
        help="DynamoDB endpoint, and moto's for emails and sms (default: the running `clerk-sync dev`'s)",
    )
    dump.add_argument("--region", help="AWS region (default: the running `clerk-sync dev`'s)")
    commands.add_parser(
        "env",
        parents=[state],
        help="print the exports that point application code at the running `clerk-sync dev`",
        description="Print `export` lines for the running `clerk-sync dev`: "
        f"{REGION_ENV}, {ENDPOINT_ENV}, {DYNAMODB_ENDPOINT_ENV}, dummy credentials (the local engines "
        f"accept any) and every table's variable ({TABLES[Table.USERS].variable}, …), which "
        "`ClerkData.from_environment()` "
        "reads; `unset` for a profile, "
        "a session token or other endpoints that would take boto3 elsewhere. Exit code 4 when no "
        "`clerk-sync dev` runs.",
        epilog='examples:\n  eval "$(clerk-sync env)"\n  eval "$(clerk-sync env --state-dir /tmp/other)"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backfill_cli.add_parser(commands)
    emails_cli.add_parser(commands, [state])
    changes_cli.add_parser(commands, [state])
    return parser


def _sample_types() -> list[str]:
    from clerk_sync_local.cli.send import sample_types

    return sample_types()


def _dev(args: argparse.Namespace) -> int:
    from clerk_sync_local.stack import dev, state

    if args.aws_endpoint and args.backend:
        raise UsageError("--backend and --aws-endpoint exclude each other: the endpoint serves every table")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    options = dev.DevOptions(
        host=args.host,
        port=args.port,
        aws_endpoint=args.aws_endpoint,
        backend=args.backend or "moto",
        state_dir=state.state_dir(args.state_dir),
    )
    return dev.run(options)


def _send(args: argparse.Namespace) -> int:
    from clerk_sync_local.cli import send
    from clerk_sync_local.stack import state

    return send.run(
        args.events,
        url=args.url,
        secret=args.secret,
        state_dir=state.state_dir(args.state_dir),
        msg_id=args.msg_id,
        overrides=args.overrides,
        print_only=args.print_only,
    )


def _dump(args: argparse.Namespace) -> int:
    from clerk_sync_local.cli import dump
    from clerk_sync_local.stack import state

    unknown = [table for table in args.tables if table not in dump.CHOICES]
    if unknown:
        raise UsageError(f"unknown table {unknown[0]!r}: choose from {', '.join(dump.CHOICES)}")
    if dump.CHANGES in args.tables and set(args.tables) != {dump.CHANGES}:
        raise UsageError(f"`{dump.CHANGES}` is dumped alone: its events are not a table")
    where = dump.source(args.endpoint, args.region, state.state_dir(args.state_dir), os.environ)
    if dump.CHANGES in args.tables:
        return dump.run_changes(where, as_json=args.json)
    return dump.run(args.tables, where, as_json=args.json)


def _env(args: argparse.Namespace) -> int:
    from clerk_sync_local.cli import env

    return env.run(os.environ, args.state_dir)


def _backfill(args: argparse.Namespace) -> int:
    return backfill_cli.run(args)


COMMANDS = {
    "dev": _dev,
    "send": _send,
    "dump": _dump,
    "env": _env,
    "backfill": _backfill,
    "emails": emails_cli.run,
    "sms": emails_cli.run,
    "changes": changes_cli.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    An exception with an integer `exit_code` (UsageError, DevError, SendError, DumpError) is an
    expected failure: its message is the one line printed.
    """
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `clerk-sync dump | head`: the reader has gone, say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:
        code = getattr(error, "exit_code", None)
        if isinstance(code, int):
            return _fail(str(error), code)
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(
            f"unexpected {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for the traceback)", FAILED
        )


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code
