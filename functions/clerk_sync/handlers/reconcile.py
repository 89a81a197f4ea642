"""ReconcileFunction (optional, scheduled): `clerk-sync backfill --reconcile`, run in Lambda.

In template.yaml behind the ReconcileSchedule parameter (off by default); docs/backfill.md explains
why `clerk-backend-api` comes from a layer of this function only (the other bundles must not carry it).

Environment (read by settings.load_reconcile_config): CLERK_SECRET_KEY_ARN (Secrets Manager secret
holding `sk_live_…`; CLERK_SECRET_KEY instead, for local runs), the table names, optional CLERK_API_URL,
RECONCILE_DRY_RUN=true (report only), RECONCILE_WORKERS (concurrent writes, default 8).
A run that stops early (bad key, Clerk unreachable, DynamoDB) fails the invocation after logging what
it did, so that the function's Errors metric can alarm; the next scheduled run continues the work.
A run that would outlive the invocation hands itself over to an asynchronous invocation of this
function (event `{"run_id": …}`), which continues it (bootstrap/reconcile.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.bootstrap.reconcile import reconcile
from clerk_sync.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (a schedule's event carries nothing; a hand-over's carries the run id)."""
    return reconcile(event=event, context=context)
