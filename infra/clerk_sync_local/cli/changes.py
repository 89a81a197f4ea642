"""`clerk-sync changes republish`: publish what the change feed could not, from the tables' streams,
while they still keep it (24 hours).

When a batch of stream records is never published (the bus refused it for ChangeRetryAttempts retries,
or ChangesFunction could not read a record), Lambda sends ChangesFailedQueue a record of where the batch
is: the shard, its first and last sequence numbers, not the records. ChangesFailedAlarm fires. For each
such message this reads the shard from the first sequence number through the last, shapes the records as
Lambda hands them over, and publishes them with ChangesFunction's own publisher, configured as the
function is (bus, table names, CHANGE_DETAIL). The events have the ids the function's would have had, so
consumers drop the ones that reached them before. A message is deleted once every record in its range is
published. Otherwise it is kept (the alarm stays on) and its line says why.

Where: as every sub-command (cli/target.py). By default the running `clerk-sync dev`, whose dev.json
names the queue, the bus and CHANGE_DETAIL. `--endpoint` (or the environment's local endpoints) needs
the queue URL. `--aws` works on the deployed stack named by the environment: CHANGES_FAILED_QUEUE_URL
(or --queue-url), CHANGES_BUS_NAME and CHANGE_DETAIL, with the values of the stack's outputs and its
ChangeDetail parameter, and the table variables (one per synced table: `clerk-sync env` lists them).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from clerk_sync.domain.tables import TABLES, Table
from clerk_sync.settings import (
    ACCESS_KEY_ENV,
    CHANGE_DETAIL_ENV,
    CHANGES_BUS_ENV,
    CHANGES_FAILED_QUEUE_URL_ENV,
    SECRET_ACCESS_KEY_ENV,
)

from clerk_sync_local.cli.exit_codes import FAILED, OK, USAGE
from clerk_sync_local.cli.target import Target, require_write_access, resolve_running
from clerk_sync_local.stack.state import DEFAULT_BUS_NAME, LOCAL_KEY

if TYPE_CHECKING:  # the function's modules (boto3, Powertools) load only when the command runs
    from clerk_sync.app.changes import ChangePublisher
    from clerk_sync.settings import ChangesConfig

DEFAULT_RETRY_SECONDS = 30.0  # how long the bus's refusals are retried per message (as the function does)
RETENTION_HOURS = 24  # how long DynamoDB Streams keeps a record
RECEIVE_WAIT_SECONDS = 1  # long polling: SQS answers from every server, and an empty queue costs 1 s
MAX_GET_RECORDS = 1000  # GetRecords' limit per call
MAX_EMPTY_PAGES = 5  # GetRecords answering nothing this often in a row, before the range's end: give up
GONE = ("TrimmedDataAccessException", "ResourceNotFoundException")  # the records are not there any more
FEED_OFF = (
    "the running `clerk-sync dev` has the change feed off (it started with CHANGE_FEED=false): it has no "
    "ChangesFailedQueue; restart it without CHANGE_FEED=false"
)
RECOVERY = (
    "The changes of a message whose records are gone cannot be re-published from the stream. They are in "
    "the tables: a consumer that needs them resyncs by reading the tables (ClerkData). `clerk-sync "
    "backfill` does not help here: it publishes nothing for records that did not change. Delete such a "
    "message once that is done (docs/runbook.md, ChangesFailedAlarm)."
)


class ChangesError(Exception):
    """A failure `clerk-sync changes` reports in one line."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotOnFailureRecord(ValueError):
    """A message that is not a DynamoDB stream mapping's on-failure record."""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The `changes` sub-command."""
    parser = commands.add_parser(
        "changes",
        parents=parents,
        help="re-publish the changes the change feed could not publish (ChangesFailedQueue)",
        description="\n\n".join(__doc__.split("\n\n")[1:3]),
        epilog="examples:\n  clerk-sync changes republish --dry-run\n  clerk-sync changes republish\n"
        f"  {CHANGES_FAILED_QUEUE_URL_ENV}=https://sqs.… {CHANGES_BUS_ENV}=<stack>-changes "
        f"{CHANGE_DETAIL_ENV}=full {TABLES[Table.USERS].variable}=… … clerk-sync changes republish --aws\n\n"
        "exit codes: 0 every message re-published and deleted (or none there; with --dry-run: would be), "
        "1 a message kept (its line says why), 2 usage, 4 no running `clerk-sync dev`",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("republish",), help="what to do")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read each message and its records and say what would be done; publish and delete nothing",
    )
    parser.add_argument(
        "--queue-url",
        metavar="URL",
        help=f"ChangesFailedQueue's URL (default: the running dev's, else ${CHANGES_FAILED_QUEUE_URL_ENV}; "
        "the stack's output ChangesFailedQueueUrl)",
    )
    parser.add_argument(
        "--retry-for",
        type=float,
        default=DEFAULT_RETRY_SECONDS,
        metavar="SECONDS",
        help="how long to keep sending again the events the bus refuses, per message (default: %(default)g)",
    )
    parser.add_argument("--endpoint", metavar="URL", help="a local AWS engine (default: the running dev)")
    parser.add_argument("--region", help="AWS region (default: the running dev's, else AWS_REGION)")
    parser.add_argument(
        "--aws",
        action="store_true",
        help="with no running dev and no endpoint: work on the deployed stack (the environment's "
        f"credentials, region, {CHANGES_FAILED_QUEUE_URL_ENV}, {CHANGES_BUS_ENV}, {CHANGE_DETAIL_ENV} and "
        "table variables); names the account first",
    )


# --- what the command works on ----------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """The on-failure queue to read, and the ChangesFunction's configuration to publish with."""

    queue_url: str
    config: ChangesConfig

    @property
    def queue_name(self) -> str:
        return self.queue_url.rstrip("/").rsplit("/", 1)[-1]


def feed_of(target: Target, environ: Mapping[str, str], queue_url: str | None) -> Feed:
    """The queue and the configuration: the running dev's, else the environment's (with `--aws`, the
    bus and CHANGE_DETAIL must be set: a guess could put records on a bus meant for keys only)."""
    from clerk_sync.settings import ConfigError, load_changes_config

    if target.dev is not None:
        if not target.dev.changes_failed_queue_url:
            raise ChangesError(FEED_OFF)
        queue = queue_url or target.dev.changes_failed_queue_url
        bus, detail = target.dev.changes_bus, target.dev.change_detail
    else:
        queue = queue_url or environ.get(CHANGES_FAILED_QUEUE_URL_ENV, "")
        bus, detail = environ.get(CHANGES_BUS_ENV, ""), environ.get(CHANGE_DETAIL_ENV, "")
        if not queue:
            raise ChangesError(
                f"which queue? pass --queue-url or set {CHANGES_FAILED_QUEUE_URL_ENV} (the stack's output "
                "ChangesFailedQueueUrl)",
                USAGE,
            )
        if target.kind == "aws" and not bus:
            raise ChangesError(f"set {CHANGES_BUS_ENV} to the stack's output ChangesBusName", USAGE)
        if target.kind == "aws" and not detail:
            raise ChangesError(
                f"set {CHANGE_DETAIL_ENV} to the stack's ChangeDetail (full or keys): the events must carry "
                "what the function's carry",
                USAGE,
            )
    try:
        config = load_changes_config({CHANGES_BUS_ENV: bus or DEFAULT_BUS_NAME, CHANGE_DETAIL_ENV: detail})
    except ConfigError as error:
        raise ChangesError(str(error), USAGE) from None
    return Feed(queue, dataclasses.replace(config, tables=target.tables))


# --- one message ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchInfo:
    """Where a failed batch is: an on-failure record's DDBStreamBatchInfo (and its condition)."""

    stream_arn: str
    shard_id: str
    start: str  # sequence numbers, as the stream writes them (DynamoDB Local pads them with zeros)
    end: str
    batch_size: int | None
    first_written: datetime | None
    condition: str


def batch_info(body: str) -> BatchInfo:
    """The batch an on-failure record names (NotOnFailureRecord: the message is not one)."""
    from clerk_sync.adapters.dynamodb.streams import UnreadableRecordError, table_name_of

    try:
        message = json.loads(body)
    except ValueError:
        raise NotOnFailureRecord("not JSON") from None
    if not isinstance(message, dict):
        raise NotOnFailureRecord("not a JSON object")
    info = message.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        other = next((name for name in message if str(name).endswith("BatchInfo")), None)
        raise NotOnFailureRecord(f"{other}, not DDBStreamBatchInfo" if other else "no DDBStreamBatchInfo")
    names = ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")
    fields = {name: info.get(name) for name in names}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise NotOnFailureRecord(f"DDBStreamBatchInfo without {', '.join(missing)}")
    start, end = str(fields["startSequenceNumber"]), str(fields["endSequenceNumber"])
    if not (start.isdigit() and end.isdigit()) or int(start) > int(end):
        raise NotOnFailureRecord("DDBStreamBatchInfo's sequence numbers are not a range")
    try:
        table_name_of(str(fields["streamArn"]))
    except UnreadableRecordError:
        raise NotOnFailureRecord("DDBStreamBatchInfo's streamArn is not a DynamoDB stream") from None
    size = info.get("batchSize")
    context = message.get("requestContext")
    return BatchInfo(
        stream_arn=str(fields["streamArn"]),
        shard_id=str(fields["shardId"]),
        start=start,
        end=end,
        batch_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        first_written=_time(info.get("approximateArrivalOfFirstRecord")),
        condition=str(context.get("condition") or "") if isinstance(context, dict) else "",
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class RecordsGone(Exception):
    """The stream no longer has the range's records (or never had them)."""


def read_range(streams: Any, info: BatchInfo) -> list[dict[str, Any]]:
    """The shard's records from `info.start` through `info.end`, as GetRecords returns them.

    RecordsGone: the stream does not have them (trimmed, the shard or the stream gone, or the shard ends
    or keeps answering nothing before the range's last record). Other ClientErrors are raised."""
    from botocore.exceptions import ClientError

    try:
        iterator = streams.get_shard_iterator(
            StreamArn=info.stream_arn,
            ShardId=info.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info.start,
        ).get("ShardIterator")
        limit = max(1, min(MAX_GET_RECORDS, info.batch_size or MAX_GET_RECORDS))
        end, empty = int(info.end), 0
        found: list[dict[str, Any]] = []
        while iterator and empty < MAX_EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=limit)
            records = page.get("Records") or []
            for record in records:
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > end:
                    return _complete(found, info)
                found.append(dict(record))
                if sequence == end:
                    return _complete(found, info)
            iterator = page.get("NextShardIterator")
            empty = 0 if records else empty + 1
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in GONE:
            raise RecordsGone(f"{code}: {error.response['Error'].get('Message', '')}".rstrip(": ")) from None
        raise
    raise RecordsGone(
        f"the shard has {_count(len(found), 'record')} from the first sequence number and not the last"
    )


def _complete(found: list[dict[str, Any]], info: BatchInfo) -> list[dict[str, Any]]:
    if not found or int(found[0]["dynamodb"]["SequenceNumber"]) != int(info.start):
        raise RecordsGone("the shard has no record at the first sequence number")
    return found


# --- publishing -------------------------------------------------------------------------------------


class Refusals:
    """What the bus answered to the PutEvents it refused (error codes, counted), via botocore hooks."""

    def __init__(self) -> None:
        self.codes: Counter[str] = Counter()

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [
            ("after-call.events.PutEvents", self._answered),
            ("after-call-error.events.PutEvents", self._failed),
        ]

    def _answered(self, parsed: Any = None, **_: Any) -> None:
        if not isinstance(parsed, dict):
            return
        error = parsed.get("Error")
        if isinstance(error, dict) and error.get("Code"):
            self.codes[str(error["Code"])] += 1
            return
        for entry in parsed.get("Entries") or []:
            if isinstance(entry, dict) and entry.get("ErrorCode"):
                self.codes[str(entry["ErrorCode"])] += 1

    def _failed(self, exception: BaseException | None = None, **_: Any) -> None:
        if exception is not None:
            self.codes[type(exception).__name__] += 1


@dataclass(frozen=True)
class Outcome:
    """What came of one message: its line, and whether it was (or would be) done."""

    line: str
    done: bool
    gone: bool = False


@dataclass
class Republisher:
    """Reads the queue and the streams, publishes with the function's publisher."""

    feed: Feed
    sqs: Any
    streams: Any
    publisher: ChangePublisher
    refusals: Refusals
    region: str
    retry_for: float
    dry_run: bool

    def message(self, message: Mapping[str, Any]) -> Outcome:
        """Handle one message of the queue (delete it when done)."""
        from botocore.exceptions import ClientError

        from clerk_sync_local.stack.stream_worker import lambda_record

        head = str(message.get("MessageId", "?"))
        try:
            info = batch_info(str(message.get("Body", "")))
        except NotOnFailureRecord as error:
            return Outcome(f"{head}  not a stream on-failure record ({error}): message kept", done=False)
        table = self._table(info)
        where = f"{head}  {table or '?'}  {info.shard_id}  {info.start}..{info.end}"
        if table is None:
            variables = ", ".join(spec.variable for spec in TABLES.values())
            return Outcome(
                f"{where}  a stream of table {_table_name(info)}, which no table variable names "
                f"({variables}: the stack's table names): message kept",
                done=False,
            )
        try:
            records = read_range(self.streams, info)
        except RecordsGone as error:
            line = f"{where}  records gone from the stream ({error}{self._age(info)}): message kept"
            return Outcome(line, done=False, gone=True)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            return Outcome(f"{where}  cannot read the stream ({code}): message kept", done=False)
        shaped = [lambda_record(record, info.stream_arn, self.region) for record in records]
        counted = _count(len(shaped), "record")
        if info.batch_size is not None and info.batch_size != len(shaped):
            counted += f" (the message says {info.batch_size})"
        types, events, unreadable = self._changes(shaped)
        where += f"  {counted} ({types})"
        if unreadable is not None:
            return Outcome(
                f"{where}: record {unreadable}, by ChangesFunction either: nothing published, "
                "message kept; fix what it cannot read, then run again",
                done=False,
            )
        if self.dry_run:
            return Outcome(f"{where}: would publish {_count(events, 'event')} and delete the message", True)
        return self._publish(where, shaped, events, message)

    def _table(self, info: BatchInfo) -> str | None:
        table = self.feed.config.table_of().get(_table_name(info))
        return table.value if table is not None else None

    def _age(self, info: BatchInfo) -> str:
        if info.first_written is None:
            return ""
        hours = (datetime.now(UTC) - info.first_written).total_seconds() / 3600
        written = info.first_written.strftime("%Y-%m-%d %H:%M UTC")
        past = f", past the stream's {RETENTION_HOURS} hours" if hours > RETENTION_HOURS else ""
        return f"; first record written {written}, {hours:.0f} h ago{past}"

    def _changes(self, shaped: Sequence[Mapping[str, Any]]) -> tuple[str, int, str | None]:
        """The detail-types the records make (counted), how many events, and the first record that
        cannot be read (its sequence number and why), each read as the function reads it."""
        from clerk_sync.app.changes import UNREADABLE

        kinds: Counter[str] = Counter()
        first_unreadable = None
        for record in shaped:
            try:
                change = self.publisher.change(record)
            except UNREADABLE as error:
                kinds["unreadable"] += 1
                sequence = record["dynamodb"]["SequenceNumber"]
                reason = f"{sequence} cannot be read ({type(error).__name__}: {error})"
                first_unreadable = first_unreadable or reason
                continue
            kinds[change.detail_type if change is not None else "no change"] += 1
        events = kinds.total() - kinds["no change"] - kinds["unreadable"]
        return _counted(kinds), events, first_unreadable

    def _publish(
        self, where: str, shaped: list[dict[str, Any]], events: int, message: Mapping[str, Any]
    ) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError
        from clerk_sync.observability import metrics

        from clerk_sync_local.stack.context import LocalContext

        self.refusals.codes.clear()
        published = self.publisher.publish(shaped, LocalContext("ChangesFunction", self.retry_for))
        metrics.clear_metrics()  # the function's metrics: flushed by Lambda, here only counted
        if published.failed_from is not None:
            codes = ", ".join(sorted(self.refusals.codes)) or "no reason given"
            refused = events - published.events
            return Outcome(
                f"{where}: not published, the bus refused {refused} of {events} events ({codes}) for "
                f"{self.retry_for:g} s: message kept; run again once it accepts them",
                done=False,
            )
        try:
            self.sqs.delete_message(QueueUrl=self.feed.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (BotoCoreError, ClientError) as error:
            return Outcome(
                f"{where}: published {_count(events, 'event')}, but the message could not be deleted "
                f"({_code(error)}): run again (the events have the same ids)",
                done=False,
            )
        return Outcome(f"{where}: published {_count(events, 'event')}, message deleted", True)


def _table_name(info: BatchInfo) -> str:
    from clerk_sync.adapters.dynamodb.streams import table_name_of

    return table_name_of(info.stream_arn)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _counted(kinds: Counter[str]) -> str:
    if not kinds:
        return "nothing to publish"
    return ", ".join(f"{kind} ×{n}" if n > 1 else kind for kind, n in sorted(kinds.items()))


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


# --- the run ----------------------------------------------------------------------------------------


def republish(
    target: Target, feed: Feed, *, dry_run: bool, retry_for: float, out: TextIO | None = None
) -> int:
    """Every message of the queue, one line each (on `out`, default stdout); exit code 0 when every one
    was (or would be) done."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
    from clerk_sync.adapters.aws_clients import Endpoints
    from clerk_sync.bootstrap.changes import build_publisher
    from clerk_sync.observability import logger

    if target.local:  # the local engines take any credentials
        for name in (ACCESS_KEY_ENV, SECRET_ACCESS_KEY_ENV):
            os.environ.setdefault(name, LOCAL_KEY)
    config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
    sqs = boto3.client("sqs", endpoint_url=target.aws_endpoint, region_name=target.region, config=config)
    streams = boto3.client(
        "dynamodbstreams", endpoint_url=target.dynamodb_endpoint, region_name=target.region, config=config
    )
    refusals = Refusals()
    publisher = build_publisher(
        feed.config, Endpoints(events=target.aws_endpoint, region=target.region), refusals.hooks()
    )
    out = out or sys.stdout
    work = Republisher(feed, sqs, streams, publisher, refusals, target.region, retry_for, dry_run)
    mode = " (dry run: nothing is published or deleted)" if dry_run else ""
    print(
        f"changes republish: messages of {feed.queue_name} -> bus {feed.config.bus_name} "
        f"({CHANGE_DETAIL_ENV} {feed.config.contents.value}; from {target.origin}){mode}",
        file=out,
        flush=True,
    )
    outcomes: list[Outcome] = []
    kept: dict[str, str] = {}  # message id -> receipt handle, made visible again at the end
    visibility = int(min(43200, 10 * (retry_for + 60)))  # a batch of 10, each retried for retry_for
    level = logger.log_level
    logger.setLevel("CRITICAL")  # the function's JSON logs: each line here says what they would
    try:
        while True:
            try:
                answer = sqs.receive_message(
                    QueueUrl=feed.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                    VisibilityTimeout=visibility,
                )
            except EndpointConnectionError:
                raise ChangesError(f"cannot reach SQS at {target.aws_endpoint or 'AWS'}") from None
            except (BotoCoreError, ClientError) as error:
                raise ChangesError(f"cannot read {feed.queue_url}: {_code(error)}") from None
            messages = answer.get("Messages") or []
            fresh = [m for m in messages if m.get("MessageId") not in kept]
            for message in messages:  # a message seen again (SQS delivers at least once): its new handle
                if message.get("MessageId") in kept:
                    kept[str(message["MessageId"])] = str(message["ReceiptHandle"])
            if not fresh:
                break
            for message in fresh:
                try:
                    outcome = work.message(message)
                except EndpointConnectionError as error:
                    kept[str(message["MessageId"])] = str(message["ReceiptHandle"])
                    raise ChangesError(f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}") from None
                print(outcome.line, file=out, flush=True)
                outcomes.append(outcome)
                if dry_run or not outcome.done:
                    kept[str(message["MessageId"])] = str(message["ReceiptHandle"])
    finally:
        logger.setLevel(level)
        for handle in kept.values():  # visible again at once (or after the visibility timeout anyway)
            with contextlib.suppress(BotoCoreError, ClientError):
                sqs.change_message_visibility(
                    QueueUrl=feed.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
    return _summary(outcomes, dry_run, out)


def _summary(outcomes: Sequence[Outcome], dry_run: bool, out: TextIO) -> int:
    if not outcomes:
        print("no messages: nothing to re-publish", file=out, flush=True)
        return OK
    done = sum(outcome.done for outcome in outcomes)
    would = "would be " if dry_run else ""
    kept = len(outcomes) - done
    line = f"{_count(len(outcomes), 'message')}: {done} {would}re-published and deleted, {kept} kept"
    print(line, file=out, flush=True)
    if any(outcome.gone for outcome in outcomes):
        print(RECOVERY, file=out, flush=True)
    return OK if done == len(outcomes) else FAILED


def run(args: argparse.Namespace) -> int:
    """The sub-command."""
    if not args.retry_for > 0:
        raise ChangesError(f"--retry-for {args.retry_for:g}: give a number of seconds above 0", USAGE)
    alternative = "pass --endpoint, or --aws for the stack the environment names on AWS"
    target = resolve_running(os.environ, args.endpoint, args.region, args.state_dir, alternative, args.aws)
    feed = feed_of(target, os.environ, args.queue_url)
    if not args.dry_run:
        where = f"queue {feed.queue_name}, bus {feed.config.bus_name}"
        require_write_access(target, args.aws, "changes republish", (), sys.stdout, where)
    return republish(target, feed, dry_run=args.dry_run, retry_for=args.retry_for)
