"""Running an SQS batch through the worker with partial batch failures (Powertools batch utility)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.ses import SendThrottled
from clerk_sync.app.effects_worker import Worker


def run_batch(worker: Worker, event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """Run every record; failed ones (and poison messages) come back in `batchItemFailures`.

    A batch in which every record fails is reported the same way, not raised: raising would make
    Lambda retry the whole batch, neighbours included. An e-mail that SES throttled is handed back
    with a growing delay (its visibility timeout), so a burst spreads its receives out in time.
    """
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> dict[str, Any]:
        try:
            return worker.handle(record.body, record.message_id, context)
        except SendThrottled:
            receives = int(record.attributes.approximate_receive_count or 1)
            worker.hand_back(record.receipt_handle, record.message_id, receives)
            raise

    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
