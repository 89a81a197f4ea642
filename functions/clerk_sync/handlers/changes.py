"""ChangesFunction: DynamoDB stream batches in, change events on the bus, the record to resume from out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.bootstrap.changes import build_publisher
from clerk_sync.observability import logger, metrics
from clerk_sync.settings import load_changes_config

publisher = build_publisher(load_changes_config())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return publisher.handle(event, context)
