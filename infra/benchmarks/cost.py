"""Cost per million deliveries, from measured figures and public us-east-1 prices (see aws-notes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LAMBDA_PER_MILLION = 0.20
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64
HTTP_API_PER_MILLION = 1.00
FUNCTION_URL_PER_MILLION = 0.0
WRITE_UNIT_PER_MILLION = 0.625
SQS_PER_MILLION = 0.40
# write units per call for items under 1 KB; a transaction costs two per item it writes or checks
WRITE_UNITS = {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1, "dynamodb.DeleteItem": 1}
TRANSACTION_UNITS_PER_ITEM = 2
SQS_REQUESTS_PER_MESSAGE = 3  # send, receive, delete


@dataclass(frozen=True)
class Cost:
    """Dollars per million deliveries of one event type."""

    lambda_usd: float
    dynamodb_usd: float
    sqs_usd: float

    def total(self, front_door_per_million: float) -> float:
        """With the HTTP API or the Function URL in front."""
        return self.lambda_usd + self.dynamodb_usd + self.sqs_usd + front_door_per_million


def write_units(operation: str, params: dict[str, Any]) -> int:
    """The DynamoDB write units of one request (`service.Operation` and its parameters)."""
    if operation == "dynamodb.TransactWriteItems":
        return TRANSACTION_UNITS_PER_ITEM * len(params["TransactItems"])
    return WRITE_UNITS.get(operation, 0)


def per_million(calls: dict[str, float], units: float, duration_ms: float, memory_mb: int) -> Cost:
    """Lambda requests + duration (billed per ms), DynamoDB write units per delivery, SQS requests."""
    gb_seconds = duration_ms / 1000 * memory_mb / 1024
    lambda_usd = LAMBDA_PER_MILLION + gb_seconds * LAMBDA_PER_GB_SECOND * 1_000_000
    messages = calls.get("sqs.SendMessage", 0.0)
    return Cost(
        lambda_usd, units * WRITE_UNIT_PER_MILLION, messages * SQS_REQUESTS_PER_MESSAGE * SQS_PER_MILLION
    )
