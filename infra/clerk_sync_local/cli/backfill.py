"""`clerk-sync backfill`: copy what the Clerk Backend API lists into the synced tables (every kind of
clerk_sync/adapters/clerk/listings.py, or those `--kinds` names).

Wiring: `add_parser(subparsers)` adds the sub-command, `run(args)` runs it and returns the exit code
(exit_codes.py): 0 done, 1 stopped early (bad credentials, unreachable API, DynamoDB; one line on
stderr), 2 bad usage, 3 done but some list could not be read completely (nothing reconciled for it).

Importing this module is cheap (no SDK, no AWS clients): `run` imports them.

Where it writes: cli/target.py decides, as for every sub-command (`--endpoint`, else the running
`clerk-sync dev`, else the environment); real AWS only with `--aws`, named before the first write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from clerk_sync.adapters.clerk.listings import LISTINGS, Absence
from clerk_sync.backfill.journal import LEASE_SECONDS
from clerk_sync.backfill.report import counts_line, format_summary
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.settings import CLERK_API_URL_ENV as API_URL_ENV
from clerk_sync.settings import CLERK_SECRET_KEY_ENV as SECRET_KEY_ENV
from clerk_sync.settings import DEFAULT_API_URL, DEFAULT_WORKERS, ConfigError, read_store_complete_objects

from clerk_sync_local.cli.exit_codes import FAILED, INCOMPLETE, USAGE
from clerk_sync_local.cli.target import TargetError, require_write_access, resolve
from clerk_sync_local.stack.state import STATE_DIR_ENV

SYNCED = tuple(table.value for table in LISTINGS)  # the tables backfill writes, in run order
NOT_RECONCILED = tuple(table.value for table, kind in LISTINGS.items() if kind.absence is Absence.NONE)

if TYPE_CHECKING:
    from clerk_sync.adapters.clerk.retry import RetryPolicy
    from clerk_sync.backfill.build import Settings
    from clerk_sync.backfill.journal import RunBusyError
    from clerk_sync.backfill.report import KindCounts, Summary
    from clerk_sync.backfill.runs import RunRecord

PROG = "clerk-sync"
PLAIN_INTERVAL_SECONDS = 5.0


def kinds_option(value: str) -> tuple[Table, ...]:
    """`--kinds users,roles`: the named kinds, in run order (parents first); unknown names are an error."""
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(names - set(SYNCED))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown kind {', '.join(unknown) or repr(value)}: choose from {','.join(SYNCED)}"
        )
    return tuple(table for table in LISTINGS if table.value in names)


def add_parser(subparsers: Any) -> None:
    """Add `backfill` to the `clerk-sync` sub-commands."""
    parser = subparsers.add_parser(
        "backfill",
        help="copy users, organizations, memberships, … and billing plans from the Clerk Backend API",
        description=f"Read every object of each kind ({', '.join(SYNCED)}) from the Clerk Backend API "
        f"(${SECRET_KEY_ENV}) and write what is missing or older here, through the webhook's "
        "version-guarded writes: newer webhook data and tombstones always win, and a second run writes "
        "nothing. Safe to run while webhooks flow, and to run again after a failure. Exit codes: 0 done, "
        "1 stopped early, 2 usage, 3 done but a list could not be read completely.",
        epilog="examples:\n  CLERK_SECRET_KEY=sk_test_… clerk-sync backfill --dry-run\n"
        "  CLERK_SECRET_KEY=sk_test_… clerk-sync backfill\n"
        "  CLERK_SECRET_KEY=sk_test_… clerk-sync backfill --kinds plans,subscription_items\n"
        "  CLERK_SECRET_KEY=sk_test_… clerk-sync backfill --resume\n"
        "  CLERK_SECRET_KEY=sk_test_… clerk-sync backfill --resume --take-over   # its process was killed\n"
        "  clerk-sync backfill --status\n"
        f"  CLERK_SECRET_KEY=sk_live_… {TABLES[Table.USERS].variable}=… "
        "clerk-sync backfill --reconcile --region eu-west-1 --aws",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="also tombstone stored records that Clerk no longer has (every kind except "
        f"{', '.join(NOT_RECONCILED)}; the run notes why)",
    )
    parser.add_argument(
        "--kinds",
        type=kinds_option,
        default=tuple(LISTINGS),
        metavar="LIST",
        help=f"comma-separated kinds to read (default: all, in this order: {', '.join(SYNCED)})",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument(
        "--resume",
        action="store_true",
        help="continue the last unfinished run (failed, interrupted, killed: see --take-over, or handed "
        "over) where it stopped, with the options it started with (--kinds, --reconcile and --dry-run "
        "are refused); says so when there is none",
    )
    parser.add_argument(
        "--take-over",
        action="store_true",
        help="with --resume: continue the run even if it looks alive (state running, progress less than "
        f"{LEASE_SECONDS:.0f} s ago), e.g. right after its process was killed; only when that process is "
        "gone (two processes on one run both write, harmlessly, but overwrite each other's progress)",
    )
    runs.add_argument(
        "--status",
        action="store_true",
        help="list the recent runs (kinds, pages, written, stale, skipped, state) and exit",
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help=f"Clerk Backend API base URL (default: ${API_URL_ENV}, else {DEFAULT_API_URL})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help=f"local state folder of `clerk-sync dev` (default: ${STATE_DIR_ENV}, else .local/state)",
    )
    parser.add_argument(
        "--aws",
        action="store_true",
        help="allowed to write to real AWS (the environment's credentials) when no local stack or "
        "endpoint is found; the account, region and tables are printed before the first write",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="DynamoDB endpoint (default: the running `clerk-sync dev`'s, else $AWS_ENDPOINT_URL_DYNAMODB "
        "or $AWS_ENDPOINT_URL, else AWS itself)",
    )
    parser.add_argument(
        "--region", help="AWS region (default: the running `clerk-sync dev`'s, else $AWS_REGION)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="concurrent DynamoDB writes (default: %(default)s)",
    )
    parser.set_defaults(run=run)


# --- progress ------------------------------------------------------------------------------------


def _number(value: int) -> str:
    return f"{value:,}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class _Progress:
    """Shared bookkeeping: when each kind started (in this process) and what it had read then."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started_at: dict[str, float] = {}
        self.read_at_start: dict[str, int] = {}

    def begin(self, counts: KindCounts) -> None:
        self.started_at[counts.table.value] = time.monotonic()
        self.read_at_start[counts.table.value] = counts.read  # a resumed kind has read some already

    def elapsed(self, counts: KindCounts) -> float:
        return time.monotonic() - self.started_at.get(counts.table.value, time.monotonic())

    def rate(self, counts: KindCounts) -> float:
        elapsed = self.elapsed(counts)
        read = counts.read - self.read_at_start.get(counts.table.value, 0)
        return read / elapsed if elapsed > 0 else 0.0

    def timing(self, counts: KindCounts) -> str:
        """`ETA 1m05s` where the total is known (and objects are coming), else `elapsed 0m12s`."""
        rate = self.rate(counts)
        if counts.total and rate > 0 and counts.read < counts.total:
            return f"ETA {_duration((counts.total - counts.read) / rate)}"
        return f"elapsed {_duration(self.elapsed(counts))}"

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class BarProgress(_Progress):
    """One redrawn line per kind (a terminal): bar, objects, pages, writes, rate, ETA or elapsed."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.current: KindCounts | None = None
        self.status = ""

    def _line(self, counts: KindCounts) -> str:
        width = shutil.get_terminal_size((100, 20)).columns
        head = f"{counts.table.value:<13} "
        done = f"{_number(counts.read)}"
        if counts.total:
            share = min(1.0, counts.read / counts.total)
            bar = "#" * int(share * 24)
            head += f"[{bar:<24}] {done}/{_number(counts.total)} {share:4.0%}"
        else:
            head += done
        line = (
            f"{head}  {_number(counts.pages)} pages  {_number(counts.written)} written  "
            f"{self.rate(counts):,.0f}/s  {self.timing(counts)}  {counts_line(counts)}"
        )
        if self.status:
            line += f"  ({self.status})"
        return line[: width - 1]

    def _draw(self) -> None:
        if self.current is not None:
            self.write("\r\x1b[2K" + self._line(self.current))

    def started(self, counts: KindCounts) -> None:
        self.begin(counts)
        self.current, self.status = counts, ""
        self._draw()

    def advanced(self, counts: KindCounts) -> None:
        self.current, self.status = counts, ""
        self._draw()

    def finished(self, counts: KindCounts) -> None:
        self.current, self.status = counts, ""
        self._draw()
        self.write("\n")
        self.current = None

    def waiting(self, reason: str, seconds: float) -> None:
        self.status = f"waiting {seconds:.1f} s: {reason}"
        self._draw()

    def note(self, message: str) -> None:
        self.write(f"\r\x1b[2K{message}\n")
        self._draw()


class LineProgress(_Progress):
    """Plain lines, at most one per kind every few seconds (logs, pipes, CI)."""

    def __init__(self, stream: TextIO, interval: float = PLAIN_INTERVAL_SECONDS) -> None:
        super().__init__(stream)
        self.interval = interval
        self.last = 0.0

    def _say(self, counts: KindCounts, what: str) -> None:
        total = f"/{_number(counts.total)}" if counts.total else ""
        self.write(
            f"backfill {counts.table.value}: {what} {_number(counts.read)}{total} read "
            f"({self.rate(counts):,.0f}/s), {counts_line(counts)}\n"
        )
        self.last = time.monotonic()

    def started(self, counts: KindCounts) -> None:
        self.begin(counts)
        self.last = time.monotonic()
        total = f" ({_number(counts.total)} in Clerk)" if counts.total else ""
        self.write(f"backfill {counts.table.value}: reading{total}\n")

    def advanced(self, counts: KindCounts) -> None:
        if time.monotonic() - self.last >= self.interval:
            self._say(counts, "progress:")

    def finished(self, counts: KindCounts) -> None:
        self._say(counts, "done:")

    def waiting(self, reason: str, seconds: float) -> None:
        self.write(f"backfill: waiting {seconds:.1f} s: {reason}\n")

    def note(self, message: str) -> None:
        self.write(f"backfill: {message}\n")


# --- the command ---------------------------------------------------------------------------------


def exit_code(summary: Summary) -> int:
    """0 done, 1 stopped early, 3 done with an incomplete read."""
    if summary.failure:
        return FAILED
    return 0 if summary.complete else INCOMPLETE


def run(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None, policy: RetryPolicy | None = None
) -> int:
    """Run `clerk-sync backfill`; returns the exit code (the reason of a failure is one line on stderr).

    `environ` defaults to os.environ; `policy` to the default retries (tests shorten the waits).
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from clerk_sync.adapters.aws_clients import Endpoints
    from clerk_sync.adapters.clerk.retry import RetryPolicy  # the SDK and AWS clients: only when running
    from clerk_sync.backfill.build import Settings

    env = os.environ if environ is None else environ
    secret_key = env.get(SECRET_KEY_ENV, "").strip()
    if not secret_key and not args.status:
        return _fail(
            f"{SECRET_KEY_ENV} is not set: export the instance's secret key (sk_live_… or sk_test_…)"
        )
    if not 1 <= args.workers <= 64:
        return _fail(f"--workers {args.workers}: choose 1..64", USAGE)
    if args.take_over and not args.resume:
        return _fail("--take-over goes with --resume: it takes over the run --resume continues", USAGE)
    if args.resume and args.dry_run:
        return _fail("--resume continues a run that writes: leave out --dry-run", USAGE)
    if args.resume and (args.reconcile or args.kinds != tuple(LISTINGS)):
        return _fail(
            "--resume continues a run with the options it started with: leave out --kinds and --reconcile"
        )
    try:
        complete_objects = read_store_complete_objects(env)
    except ConfigError as error:
        return _fail(str(error), USAGE)
    target = resolve(env, args.endpoint, args.region, args.state_dir)
    names = tuple(table.value for table in args.kinds)
    if not args.dry_run and not args.status:
        try:
            require_write_access(target, args.aws, "backfill", names)
        except TargetError as error:
            return _fail(str(error), error.exit_code)
    api_url = args.api_url or env.get(API_URL_ENV) or DEFAULT_API_URL
    settings = Settings(
        secret_key=secret_key,
        tables=target.tables,
        api_url=api_url,
        endpoints=Endpoints(dynamodb=target.dynamodb_endpoint, region=target.region),
        workers=args.workers,
        local_credentials=target.local,
        retry=policy or RetryPolicy(),
        complete_objects=complete_objects,
    )
    try:
        if args.status:
            return _status(settings)
        print(f"backfill: {api_url} -> {target.describe(names)}", file=sys.stderr, flush=True)
        return _backfill(args, settings)
    except (BotoCoreError, ClientError) as error:
        return _fail(f"DynamoDB: {error}", FAILED)


def _status(settings: Settings) -> int:
    from clerk_sync.backfill.build import build_journal
    from clerk_sync.backfill.runs import format_status

    print("\n".join(format_status(build_journal(settings).recent())), flush=True)
    return 0


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    from clerk_sync.backfill.build import build_backfill
    from clerk_sync.backfill.journal import RunBusyError
    from clerk_sync.backfill.run import Options

    progress = BarProgress(sys.stderr) if sys.stderr.isatty() else LineProgress(sys.stderr)
    backfill = build_backfill(settings, progress)
    if args.resume:
        journal = backfill.journal
        assert journal is not None  # build_backfill always records runs
        unfinished = journal.last_unfinished()
        try:
            record = journal.claim(unfinished.run_id, args.take_over) if unfinished is not None else None
        except RunBusyError as error:
            return _fail(_looks_alive(error), FAILED)
        if unfinished is None or record is None:
            print("backfill: nothing to resume: every recorded run is done", file=sys.stderr, flush=True)
            return 0
        print(
            f"backfill: resuming run {record.run_id} ({_how(unfinished, args.take_over)})",
            file=sys.stderr,
            flush=True,
        )
        summary = backfill.resume(record)
    else:
        summary = backfill.run(Options(dry_run=args.dry_run, reconcile=args.reconcile, kinds=args.kinds))
    print("\n".join(format_summary(summary)), flush=True)
    if summary.failure:
        return _fail(summary.failure, FAILED)
    return exit_code(summary)


def _looks_alive(error: RunBusyError) -> str:
    return (
        f"run {error.run_id} looks alive: it is running and made progress {error.idle_seconds:.0f} s ago "
        f"(a run without progress for {LEASE_SECONDS:.0f} s is taken to have died). If its process is "
        f"gone (killed, its machine restarted), `{PROG} backfill --resume --take-over` continues it now"
    )


def _how(unfinished: RunRecord, take_over: bool) -> str:
    """How the run stood before this process claimed it: `failed`, `paused`, or `running, last progress
    12 s ago` (its process died, or, with --take-over, is taken to be gone)."""
    from clerk_sync.backfill.runs import State

    if unfinished.state is not State.RUNNING:
        return unfinished.state.value
    idle = f"running, last progress {time.time() - unfinished.updated_at:.0f} s ago"
    return f"{idle}, taken over" if take_over else idle


def _fail(message: str, code: int = USAGE) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code
