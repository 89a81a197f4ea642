"""Create the template's DynamoDB tables and SQS queues on local engines (only what is missing).

Every definition (keys, indexes, TTL, queue attributes, redrive) is read from template.yaml; this module
only maps CloudFormation property names onto API parameters and picks physical names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from clerk_sync.domain.tables import IDEMPOTENCY_TEMPLATE_ID, TABLES
from clerk_sync.settings import (
    DEFAULT_QUEUE_NAME,
    DEFAULT_TABLES,
    IDEMPOTENCY,
    QUEUE_NAME_ENV,
    QUEUE_URL_ENV,
    TABLE_VARIABLES,
)

from clerk_sync_local.emulator.engines import dynamodb_client, sqs_client
from clerk_sync_local.stack.template import Template, load_template, references, resources

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

log = logging.getLogger(__name__)

TABLE_TYPE = "AWS::DynamoDB::Table"
QUEUE_TYPE = "AWS::SQS::Queue"

# Logical id -> environment variable holding its physical name (as in template.yaml's Globals).
TABLE_ENV_VARS = {
    **{spec.template_id: TABLE_VARIABLES[table.value] for table, spec in TABLES.items()},
    IDEMPOTENCY_TEMPLATE_ID: TABLE_VARIABLES[IDEMPOTENCY],
}
QUEUE_ID = "SideEffectsQueue"
DEAD_LETTER_QUEUE_ID = "SideEffectsDeadLetterQueue"
DEAD_LETTER_SUFFIX = "-dlq"

# CloudFormation properties the engines support that have the API's shape, copied as they are.
_TABLE_PASSTHROUGH = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "LocalSecondaryIndexes",
)
_INDEX_PASSTHROUGH = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
_QUEUE_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit", "RedrivePolicy", "RedriveAllowPolicy",
)  # fmt: skip
# Handled separately (names, TTL, streams) or deliberately not emulated (encryption, PITR, tags, …).
_TABLE_OTHERS = {
    "TableName", "GlobalSecondaryIndexes", "TimeToLiveSpecification", "StreamSpecification",
    "SSESpecification", "PointInTimeRecoverySpecification", "Tags", "TableClass", "DeletionProtectionEnabled",
    "ContributorInsightsSpecification", "ResourcePolicy",
}  # fmt: skip
_QUEUE_OTHERS = {
    "QueueName",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "Tags",
}


class ProvisionError(RuntimeError):
    """The template and the names do not fit together, or the template uses something unsupported."""


@dataclass(frozen=True)
class ResourceNames:
    """Physical names: tables keyed by logical id, plus the side-effects queue and its dead-letter queue."""

    tables: Mapping[str, str]
    queue: str
    dead_letter_queue: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResourceNames:
        """Names from the same variables the functions read (each table's, as domain/tables.py declares
        them), else the defaults."""
        tables = {
            logical_id: environ.get(variable) or DEFAULT_TABLES[variable]
            for logical_id, variable in TABLE_ENV_VARS.items()
        }
        queue = environ.get(QUEUE_NAME_ENV) or DEFAULT_QUEUE_NAME
        return cls(tables=tables, queue=queue, dead_letter_queue=queue + DEAD_LETTER_SUFFIX)

    @property
    def queues(self) -> dict[str, str]:
        """Queue names keyed by logical id."""
        return {QUEUE_ID: self.queue, DEAD_LETTER_QUEUE_ID: self.dead_letter_queue}

    def prefixed(self, prefix: str) -> ResourceNames:
        """The same names with `prefix` in front of each (e.g. to isolate test runs)."""
        return ResourceNames(
            tables={logical_id: prefix + name for logical_id, name in self.tables.items()},
            queue=prefix + self.queue,
            dead_letter_queue=prefix + self.dead_letter_queue,
        )


@dataclass(frozen=True)
class Provisioned:
    """What exists after provisioning: queue URLs and table names (keyed by logical id)."""

    queue_url: str
    dead_letter_queue_url: str
    tables: Mapping[str, str]

    def environment(self) -> dict[str, str]:
        """The functions' environment variables that name these tables and the queue."""
        tables = {variable: self.tables[logical_id] for logical_id, variable in TABLE_ENV_VARS.items()}
        return {**tables, QUEUE_URL_ENV: self.queue_url}


def provision(
    *,
    dynamodb_endpoint: str,
    sqs_endpoint: str,
    names: ResourceNames,
    region: str = "us-east-1",
    template: Template | None = None,
) -> Provisioned:
    """Create whatever tables and queues of the template are missing; safe to call on every start."""
    template = load_template() if template is None else template
    tables = resources(template, TABLE_TYPE)
    queues = resources(template, QUEUE_TYPE)
    _check_names("table", tables, names.tables)
    _check_names("queue", queues, names.queues)

    dynamodb = dynamodb_client(dynamodb_endpoint, region)
    for logical_id, properties in tables.items():
        _ensure_table(dynamodb, names.tables[logical_id], properties)

    sqs = sqs_client(sqs_endpoint, region)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id in _dependency_order(queues):
        name = names.queues[logical_id]
        urls[logical_id], arns[logical_id] = _ensure_queue(sqs, name, queues[logical_id], arns)

    return Provisioned(
        queue_url=urls[QUEUE_ID],
        dead_letter_queue_url=urls[DEAD_LETTER_QUEUE_ID],
        tables={logical_id: names.tables[logical_id] for logical_id in tables},
    )


def _check_names(kind: str, in_template: Mapping[str, object], named: Mapping[str, str]) -> None:
    if set(in_template) != set(named):
        raise ProvisionError(
            f"{kind} logical ids differ between template.yaml {sorted(in_template)} and the names "
            f"given {sorted(named)}: update the table registry (clerk_sync.domain.tables) "
            "together with the template"
        )


# --- DynamoDB -------------------------------------------------------------------------------------


def _ensure_table(client: DynamoDBClient, name: str, properties: Mapping[str, Any]) -> None:
    try:
        client.describe_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        client.create_table(**_create_table_request(name, properties))
        log.info("created table %s", name)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl is not None:
        _ensure_time_to_live(client, name, ttl)


def _create_table_request(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(properties) - set(_TABLE_PASSTHROUGH) - _TABLE_OTHERS
    if unknown:
        log.warning("table %s: properties not emulated locally: %s", name, ", ".join(sorted(unknown)))
    request: dict[str, Any] = {key: properties[key] for key in _TABLE_PASSTHROUGH if key in properties}
    request["TableName"] = name
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = [
            {key: index[key] for key in _INDEX_PASSTHROUGH if key in index}
            for index in properties["GlobalSecondaryIndexes"]
        ]
    if "StreamSpecification" in properties:
        view_type = properties["StreamSpecification"]["StreamViewType"]
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    return request


def _ensure_time_to_live(client: DynamoDBClient, name: str, spec: Mapping[str, Any]) -> None:
    """Apply TimeToLiveSpecification unless already in place.

    DynamoDB Local has had the TTL API since 1.11.119 (moto too); should an engine refuse it, the table
    still works (items just never expire, as on moto anyway), so that is logged, not raised.
    """
    wanted = _as_bool(spec.get("Enabled", False))
    try:
        current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        if enabled == wanted and (not wanted or current.get("AttributeName") == spec["AttributeName"]):
            return
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": wanted},
        )
    except ClientError as error:
        log.warning("table %s: time to live not applied (%s)", name, error)


# --- SQS ------------------------------------------------------------------------------------------


def _dependency_order(queues: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Queue logical ids so that a queue comes after every queue it refers to (DLQs first)."""
    graph = {
        logical_id: {other for other in references(properties) if other in queues}
        for logical_id, properties in queues.items()
    }
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise ProvisionError(f"queues refer to each other in a cycle: {error.args[1]}") from None


def _ensure_queue(
    client: SQSClient, name: str, properties: Mapping[str, Any], arns: Mapping[str, str]
) -> tuple[str, str]:
    """Return (URL, ARN) of the queue, creating it if missing."""
    try:
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
    except client.exceptions.QueueDoesNotExist:
        attributes = _queue_attributes(name, properties, arns)
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        log.info("created queue %s", name)
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _queue_attributes(
    name: str, properties: Mapping[str, Any], arns: Mapping[str, str]
) -> dict[QueueAttributeNameType, str]:
    unknown = set(properties) - set(_QUEUE_ATTRIBUTES) - _QUEUE_OTHERS
    if unknown:
        log.warning("queue %s: properties not emulated locally: %s", name, ", ".join(sorted(unknown)))
    attributes: dict[QueueAttributeNameType, str] = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in properties:
            value = _resolve_arns(properties[key], arns)
            attributes[key] = json.dumps(value) if isinstance(value, dict) else _attribute_text(value)
    return attributes


def _resolve_arns(value: Any, arns: Mapping[str, str]) -> Any:
    """Replace `!GetAtt Queue.Arn` with the ARN of the queue created for that logical id."""
    match value:
        case {"Fn::GetAtt": [str() as target, "Arn"]} if len(value) == 1 and target in arns:
            return arns[target]
        case dict() if any(key == "Ref" or key.startswith("Fn::") for key in value):
            raise ProvisionError(f"unsupported in a queue property (only !GetAtt <queue>.Arn is): {value}")
        case dict():
            return {key: _resolve_arns(inner, arns) for key, inner in value.items()}
        case list():
            return [_resolve_arns(inner, arns) for inner in value]
    return value


def _attribute_text(value: Any) -> str:
    """SQS attribute values are strings; YAML booleans become "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"
