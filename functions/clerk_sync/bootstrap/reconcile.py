"""Building and running ReconcileFunction's backfill from its configuration: the Clerk secret key,
progress as log lines, the run's report and metric (handlers/reconcile.py is the entry point).

Only ReconcileFunction's bundle carries clerk_sync/backfill: the other bootstrap modules never import it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from clerk_sync.adapters.aws_clients import Clients, Endpoints, EventHook
from clerk_sync.backfill.actions import Action
from clerk_sync.backfill.build import Settings, build_backfill
from clerk_sync.backfill.report import KindCounts, Summary
from clerk_sync.backfill.run import Options
from clerk_sync.observability import logger, metrics
from clerk_sync.settings import ConfigError, ReconcileConfig, load_reconcile_config

SECRET_MAX_AGE_SECONDS = 300
LOG_INTERVAL_SECONDS = 30.0
REPORTED_KEYS = 100


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
    """Progress as structured log lines: a kind's start and end, waits, notes, every 30 s otherwise."""

    def __init__(self) -> None:
        self.last = 0.0

    def started(self, counts: KindCounts) -> None:
        self.last = time.monotonic()
        logger.info("reconcile kind started", extra={"kind": counts.table.value, "total": counts.total})

    def advanced(self, counts: KindCounts) -> None:
        if time.monotonic() - self.last >= LOG_INTERVAL_SECONDS:
            self.last = time.monotonic()
            logger.info("reconcile progress", extra=kind_report(counts))

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
        "seconds": round(summary.seconds, 3),
        "api_requests": summary.api_requests,
        "kinds": {counts.table.value: kind_report(counts) for counts in summary.kinds.values()},
        "notes": summary.notes,
    }


def reconcile(
    env: Mapping[str, str] | None = None, endpoints: Endpoints | None = None, hooks: Sequence[EventHook] = ()
) -> dict[str, Any]:
    """One reconcile run with this environment; raises ReconcileFailed when it stops early."""
    endpoints = endpoints or Endpoints()
    config = load_reconcile_config(env)
    settings = Settings(
        secret_key=secret_key(config, Clients(endpoints)),
        tables=config.tables,
        api_url=config.api_url,
        endpoints=endpoints,
        workers=config.workers,
        complete_objects=config.store_complete_objects,
    )
    dry_run = config.dry_run
    summary = build_backfill(settings, LogProgress(), hooks).run(Options(dry_run=dry_run, reconcile=True))
    result = report(summary)
    if summary.failure:
        logger.error("reconcile stopped early", extra=result)
        raise ReconcileFailed(summary.failure)
    logger.info("reconcile finished", extra=result)
    if not dry_run:  # lost deletions found: worth a look (and an alarm) when it is not zero
        tombstoned = sum(counts.actions[Action.TOMBSTONE] for counts in summary.kinds.values())
        metrics.add_metric(name="ReconcileTombstoned", unit=MetricUnit.Count, value=tombstoned)
    return result
