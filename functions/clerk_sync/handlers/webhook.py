"""WebhookFunction: Clerk webhooks in (HTTP API v2 or Function URL), a JSON answer out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.observability import logger, metrics
from clerk_sync.settings import load_config

receiver = build_receiver(load_config())  # a bad configuration fails the init, not each request


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return receiver.handle(event, context)
