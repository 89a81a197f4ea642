"""Running an SQS batch through the worker with partial batch failures (`ReportBatchItemFailures`).

A loop of its own rather than Powertools' batch utility: that one imports asyncio and every event
data class, ≈50 ms of each worker cold start (docs/deployment.md), for what is a loop here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.ses import SendThrottled
from clerk_sync.app.effects_worker import Worker
from clerk_sync.observability import logger


def run_batch(worker: Worker, event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """Run every record; failed ones (and poison messages) come back in `batchItemFailures`.

    A batch in which every record fails is reported the same way, not raised: raising would make
    Lambda retry the whole batch, neighbours included. An e-mail that SES throttled is handed back
    with a growing delay (its visibility timeout), so a burst spreads its receives out in time.
    """
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = str(record.get("messageId", ""))
        try:
            worker.handle(str(record.get("body", "")), message_id, context)
        except SendThrottled:
            receives = int(record.get("attributes", {}).get("ApproximateReceiveCount") or 1)
            worker.hand_back(str(record.get("receiptHandle", "")), message_id, receives)
            failures.append({"itemIdentifier": message_id})
        except Exception as error:  # the record is retried; after maxReceiveCount it goes to the DLQ
            logger.warning("record failed", extra={"message_id": message_id, "error": type(error).__name__})
            logger.debug("record failure", exc_info=True)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
