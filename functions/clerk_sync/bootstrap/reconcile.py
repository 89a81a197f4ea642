"""Building and running ReconcileFunction's backfill from its configuration: the Clerk secret key,
progress as log lines, the run's report and metric (handlers/reconcile.py is the entry point).

A run that would outlive the invocation stops between pages HANDOVER_MARGIN_SECONDS before the timeout
(its record, backfill/journal.py, says where) and hands itself over: the function invokes itself
asynchronously with `{"run_id": …}`, and that invocation continues the run. Reserved concurrency 1
makes it wait for this one to end (Lambda retries throttled asynchronous invocations). A scheduled
invocation continues the last unfinished reconcile run (failed, or a hand-over that was lost) before
it starts a new one; the report and the metric of the invocation that finishes cover the whole run.

Only ReconcileFunction's bundle carries clerk_sync/backfill: the other bootstrap modules never import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from clerk_sync.adapters.aws_clients import Clients, Endpoints, EventHook
from clerk_sync.backfill.actions import Action
from clerk_sync.backfill.build import Settings, build_backfill
from clerk_sync.backfill.journal import Journal, RunBusyError
from clerk_sync.backfill.report import KindCounts, Summary
from clerk_sync.backfill.run import Backfill, Options
from clerk_sync.backfill.runs import RunRecord
from clerk_sync.observability import logger, metrics
from clerk_sync.settings import ConfigError, ReconcileConfig, load_reconcile_config

SECRET_MAX_AGE_SECONDS = 300
LOG_EVERY_PAGES = 20  # a progress line per kind every 20 pages (10,000 objects at 500 a page)
REPORTED_KEYS = 100
HANDOVER_MARGIN_SECONDS = 120.0  # left for the page in flight, saving the record and handing over
SOURCE = "reconcile"  # run records of this function (the CLI's are "cli")

Handover = Callable[[str], None]
"""Start the invocation that continues run `run_id`."""


class Context(Protocol):
    """What a run needs of Lambda's context object."""

    @property
    def invoked_function_arn(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


class ReconcileFailed(Exception):
    """The run stopped early; the message is the one-line reason (never the secret key)."""


def secret_key(config: ReconcileConfig, clients: Clients) -> str:
    """CLERK_SECRET_KEY, else the value of the secret CLERK_SECRET_KEY_ARN names."""
    if config.secret_key:
        return config.secret_key
    secret_id = str(config.secret_key_arn)
    provider = SecretsProvider(boto3_client=clients.client("secretsmanager"))
    value = provider.get(secret_id, max_age=SECRET_MAX_AGE_SECONDS)
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value or "")
    if not text.strip():
        raise ConfigError(f"secret {secret_id} is empty: put the Clerk secret key (sk_live_…) in it")
    return text.strip()


class LogProgress:
    """Progress as structured log lines: a kind's start and end, waits, notes, and a line every
    LOG_EVERY_PAGES pages of a kind (objects read, writes, rate)."""

    def __init__(self) -> None:
        self.logged_pages = 0
        self.started_at = time.monotonic()
        self.read_at_start = 0

    def started(self, counts: KindCounts) -> None:
        self.logged_pages, self.started_at, self.read_at_start = counts.pages, time.monotonic(), counts.read
        logger.info("reconcile kind started", extra={"kind": counts.table.value, "total": counts.total})

    def advanced(self, counts: KindCounts) -> None:
        if counts.pages - self.logged_pages >= LOG_EVERY_PAGES:
            self.logged_pages = counts.pages
            elapsed = time.monotonic() - self.started_at
            rate = (counts.read - self.read_at_start) / elapsed if elapsed > 0 else 0.0
            logger.info(
                "reconcile progress",
                extra={**kind_report(counts), "pages": counts.pages, "per_second": round(rate, 1)},
            )

    def finished(self, counts: KindCounts) -> None:
        logger.info("reconcile kind finished", extra=kind_report(counts))

    def waiting(self, reason: str, seconds: float) -> None:
        logger.warning("reconcile waiting", extra={"reason": reason, "seconds": round(seconds, 3)})

    def note(self, message: str) -> None:
        logger.warning(message)


def kind_report(counts: KindCounts) -> dict[str, Any]:
    """One kind's counts as JSON values."""
    return {
        "kind": counts.table.value,
        "read": counts.read,
        "complete": counts.complete,
        "reconciled": counts.reconciled,
        **{action.value: n for action, n in counts.actions.items()},
        "raced": counts.raced,
        "malformed": counts.malformed,
        "tombstoned_keys": ["/".join(key) for key in counts.tombstoned[:REPORTED_KEYS]],
    }


def report(summary: Summary) -> dict[str, Any]:
    """The invocation's result."""
    return {
        "run_id": summary.run_id,
        "dry_run": summary.dry_run,
        "complete": summary.complete,
        "failure": summary.failure,
        "state": "handed over" if summary.paused else "stopped" if summary.failure else "done",
        "skipped": summary.skipped,
        "seconds": round(summary.seconds, 3),
        "api_requests": summary.api_requests,
        "kinds": {counts.table.value: kind_report(counts) for counts in summary.kinds.values()},
        "notes": summary.notes,
    }


def invoke_self(clients: Clients, context: Context) -> Handover:
    """A hand-over by an asynchronous invocation of this function (the ARN it was invoked by)."""

    def handover(run_id: str) -> None:
        clients.client("lambda").invoke(
            FunctionName=context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps({"run_id": run_id}).encode(),
        )

    return handover


def _stop(context: Context | None) -> Callable[[], bool]:
    if context is None:
        return lambda: False
    return lambda: context.get_remaining_time_in_millis() < HANDOVER_MARGIN_SECONDS * 1000


def _continued(journal: Journal, run_id: str | None) -> RunRecord | None:
    """The run to continue: the one handed over, else the last unfinished reconcile run (None: start
    one; raises RunBusyError while another invocation works on it)."""
    if run_id is None:
        last = journal.last_unfinished(source=SOURCE)
        run_id = last.run_id if last is not None else None
    return journal.claim(run_id) if run_id is not None else None


def reconcile(
    env: Mapping[str, str] | None = None,
    endpoints: Endpoints | None = None,
    hooks: Sequence[EventHook] = (),
    event: Mapping[str, Any] | None = None,
    context: Context | None = None,
    handover: Handover | None = None,
) -> dict[str, Any]:
    """One invocation's part of a reconcile run; raises ReconcileFailed when the run stops early.

    `event` {"run_id": …} continues a handed-over run; `handover` defaults to invoking this function."""
    endpoints = endpoints or Endpoints()
    config = load_reconcile_config(env)
    clients = Clients(endpoints)
    settings = Settings(
        secret_key=secret_key(config, clients),
        tables=config.tables,
        api_url=config.api_url,
        endpoints=endpoints,
        workers=config.workers,
        complete_objects=config.store_complete_objects,
    )
    dry_run = config.dry_run
    backfill = build_backfill(settings, LogProgress(), hooks)
    run_id = (event or {}).get("run_id")
    try:
        record = None if dry_run or backfill.journal is None else _continued(backfill.journal, run_id)
    except RunBusyError as error:
        logger.warning("reconcile run busy", extra={"run_id": run_id, "reason": str(error)})
        return {"run_id": run_id, "state": "running elsewhere"}
    if run_id is not None and record is None:
        logger.info("reconcile run already done", extra={"run_id": run_id})
        return {"run_id": run_id, "state": "done"}
    summary = _run(backfill, record, dry_run, _stop(context))
    result = report(summary)
    if summary.failure:
        logger.error("reconcile stopped early", extra=result)
        raise ReconcileFailed(summary.failure)
    if summary.paused:
        if handover is None and context is not None:
            handover = invoke_self(clients, context)
        if handover is not None:
            handover(summary.run_id)
        logger.info("reconcile handed over", extra=result)
        return result
    logger.info("reconcile finished", extra=result)
    if not dry_run:  # lost deletions found: worth a look (and an alarm) when it is not zero
        tombstoned = sum(counts.actions[Action.TOMBSTONE] for counts in summary.kinds.values())
        metrics.add_metric(name="ReconcileTombstoned", unit=MetricUnit.Count, value=tombstoned)
    return result


def _run(backfill: Backfill, record: RunRecord | None, dry_run: bool, stop: Callable[[], bool]) -> Summary:
    if record is not None:
        logger.info("reconcile continues a run", extra={"run_id": record.run_id, "state": record.state.value})
        return backfill.resume(record, stop)
    return backfill.run(Options(dry_run=dry_run, reconcile=True), source=SOURCE, stop=stop)
