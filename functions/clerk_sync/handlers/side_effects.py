"""SideEffectsFunction: SQS batches in, partial batch failures out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.app.batch import run_batch
from clerk_sync.bootstrap.worker import build_worker
from clerk_sync.observability import logger, metrics
from clerk_sync.settings import load_worker_config

worker = build_worker(load_worker_config())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return run_batch(worker, event, context)
