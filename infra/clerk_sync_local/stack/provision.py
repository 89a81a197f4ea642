"""Create the template's DynamoDB tables, SQS queues and change feed on local engines (only what is
missing).

Every definition (keys, indexes, TTL, streams, queue attributes, redrive, the bus and its archive) is read
from template.yaml, with its parameters as the local stack sets them (template.StackParameters: CHANGE_FEED,
CHANGE_ARCHIVE_RETENTION_DAYS, …, else their Defaults) deciding its Conditions and `!If`s; this module only
maps CloudFormation property names onto API parameters and picks physical names. Nothing is ever deleted
or disabled: a resource whose Condition no longer holds is left as it is.

With the change feed on, the bus gets one resource the template does not have: a catch-all rule sending
every event to a CloudWatch Logs log group, which keeps what the bus received (`clerk-sync dump changes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from clerk_sync.domain.changes import SOURCE
from clerk_sync.domain.tables import IDEMPOTENCY_TEMPLATE_ID, TABLES
from clerk_sync.settings import (
    CHANGES_BUS_ENV,
    DEFAULT_QUEUE_NAME,
    DEFAULT_TABLES,
    IDEMPOTENCY,
    QUEUE_NAME_ENV,
    QUEUE_URL_ENV,
    TABLE_VARIABLES,
)

from clerk_sync_local.emulator.engines import dynamodb_client, events_client, logs_client, sqs_client
from clerk_sync_local.stack.state import DEFAULT_BUS_NAME, changes_log_group
from clerk_sync_local.stack.template import (
    StackParameters,
    Template,
    TemplateError,
    load_template,
    references,
    resources,
)

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
# The change feed (template.yaml's "Change feed" section, all on the condition ChangeFeedEnabled).
BUS_ID = "ChangesBus"
ARCHIVE_ID = "ChangesArchive"
CHANGES_FAILED_QUEUE_ID = "ChangesFailedQueue"
DEFAULT_CHANGES_FAILED_QUEUE = "clerk-sync-changes-failed"
STREAM_ARN = "StreamArn"  # the !GetAtt attribute of a table's stream
CATCH_ALL_SUFFIX = "-keep-all"  # the bus name + this: the catch-all rule
ARCHIVE_SUFFIX = "-archive"
CATCH_ALL_TARGET = "log-group"
MAX_ARCHIVE_NAME = 48  # EventBridge's limits
MAX_RULE_NAME = 64

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
    """Physical names: tables keyed by logical id, the side-effects queue and its dead-letter queue, and
    the change feed's bus and on-failure queue (the archive, rule and log group are named after the bus)."""

    tables: Mapping[str, str]
    queue: str
    dead_letter_queue: str
    bus: str = DEFAULT_BUS_NAME
    changes_failed_queue: str = DEFAULT_CHANGES_FAILED_QUEUE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResourceNames:
        """Names from the same variables the functions read (each table's, as domain/tables.py declares
        them), else the defaults."""
        tables = {
            logical_id: environ.get(variable) or DEFAULT_TABLES[variable]
            for logical_id, variable in TABLE_ENV_VARS.items()
        }
        queue = environ.get(QUEUE_NAME_ENV) or DEFAULT_QUEUE_NAME
        return cls(
            tables=tables,
            queue=queue,
            dead_letter_queue=queue + DEAD_LETTER_SUFFIX,
            bus=environ.get(CHANGES_BUS_ENV) or DEFAULT_BUS_NAME,
        )

    @property
    def queues(self) -> dict[str, str]:
        """Queue names keyed by logical id."""
        return {
            QUEUE_ID: self.queue,
            DEAD_LETTER_QUEUE_ID: self.dead_letter_queue,
            CHANGES_FAILED_QUEUE_ID: self.changes_failed_queue,
        }

    def prefixed(self, prefix: str) -> ResourceNames:
        """The same names with `prefix` in front of each (e.g. to isolate test runs)."""
        return ResourceNames(
            tables={logical_id: prefix + name for logical_id, name in self.tables.items()},
            queue=prefix + self.queue,
            dead_letter_queue=prefix + self.dead_letter_queue,
            bus=prefix + self.bus,
            changes_failed_queue=prefix + self.changes_failed_queue,
        )


@dataclass(frozen=True)
class ChangeFeed:
    """The change feed's resources: the bus, its archive (None when ChangeArchiveRetentionDays is 0), the
    stream mappings' on-failure queue, and the local catch-all rule with the log group keeping every
    event the bus received."""

    bus_name: str
    bus_arn: str
    archive: str | None
    failed_queue_url: str
    rule: str
    log_group: str


@dataclass(frozen=True)
class Provisioned:
    """What exists after provisioning: queue URLs and table names (keyed by logical id); with the change
    feed on, each synced table's stream ARN (keyed by logical id) and the feed's resources."""

    queue_url: str
    dead_letter_queue_url: str
    tables: Mapping[str, str]
    streams: Mapping[str, str] = field(default_factory=dict)
    changes: ChangeFeed | None = None

    def environment(self) -> dict[str, str]:
        """The functions' environment variables that name these tables, the queue and the bus."""
        tables = {variable: self.tables[logical_id] for logical_id, variable in TABLE_ENV_VARS.items()}
        bus = {CHANGES_BUS_ENV: self.changes.bus_name} if self.changes is not None else {}
        return {**tables, QUEUE_URL_ENV: self.queue_url, **bus}

    @property
    def attributes(self) -> dict[str, str]:
        """The values of `!GetAtt` the event sources need, keyed "LogicalId.Attribute"."""
        return {f"{logical_id}.{STREAM_ARN}": arn for logical_id, arn in self.streams.items()}


def provision(
    *,
    dynamodb_endpoint: str,
    sqs_endpoint: str,
    names: ResourceNames,
    region: str = "us-east-1",
    template: Template | None = None,
    environ: Mapping[str, str] | None = None,
) -> Provisioned:
    """Create whatever tables, queues and change-feed resources of the template are missing; safe to call
    on every start. `sqs_endpoint` is the AWS endpoint for SQS, EventBridge and CloudWatch Logs (moto's);
    `environ` sets the template's parameters (template.parameter_variable; None: their Defaults)."""
    template = load_template() if template is None else template
    parameters = StackParameters(template, {} if environ is None else environ)
    tables = resources(template, TABLE_TYPE)
    queues = resources(template, QUEUE_TYPE)
    _check_names("table", tables, names.tables)
    _check_names("queue", queues, names.queues)
    try:
        return _provision(dynamodb_endpoint, sqs_endpoint, names, region, template, parameters)
    except TemplateError as error:
        raise ProvisionError(str(error)) from None


def _provision(
    dynamodb_endpoint: str,
    aws_endpoint: str,
    names: ResourceNames,
    region: str,
    template: Template,
    parameters: StackParameters,
) -> Provisioned:
    tables = resources(template, TABLE_TYPE)
    queues = resources(template, QUEUE_TYPE)
    dynamodb = dynamodb_client(dynamodb_endpoint, region)
    streams: dict[str, str] = {}
    for logical_id, properties in tables.items():
        stream = _ensure_table(dynamodb, names.tables[logical_id], parameters.resolved(properties))
        if stream is not None:
            streams[logical_id] = stream

    sqs = sqs_client(aws_endpoint, region)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id in _dependency_order(queues):
        if not parameters.applies(logical_id):
            continue
        name, properties = names.queues[logical_id], parameters.resolved(queues[logical_id])
        urls[logical_id], arns[logical_id] = _ensure_queue(sqs, name, properties, arns)

    return Provisioned(
        queue_url=urls[QUEUE_ID],
        dead_letter_queue_url=urls[DEAD_LETTER_QUEUE_ID],
        tables={logical_id: names.tables[logical_id] for logical_id in tables},
        streams=streams,
        changes=_ensure_change_feed(aws_endpoint, region, template, parameters, names, urls),
    )


def _check_names(kind: str, in_template: Mapping[str, object], named: Mapping[str, str]) -> None:
    if set(in_template) != set(named):
        raise ProvisionError(
            f"{kind} logical ids differ between template.yaml {sorted(in_template)} and the names "
            f"given {sorted(named)}: update the table registry (clerk_sync.domain.tables) "
            "together with the template"
        )


# --- DynamoDB -------------------------------------------------------------------------------------


def _ensure_table(client: DynamoDBClient, name: str, properties: Mapping[str, Any]) -> str | None:
    """Create the table if missing, with its TTL; its stream's ARN when it has a StreamSpecification."""
    try:
        client.describe_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        client.create_table(**_create_table_request(name, properties))
        log.info("created table %s", name)
    _wait_until_active(client, name)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl is not None:
        _ensure_time_to_live(client, name, ttl)
    stream = properties.get("StreamSpecification")
    return None if stream is None else _ensure_stream(client, name, str(stream["StreamViewType"]))


def _wait_until_active(client: DynamoDBClient, name: str) -> None:
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _ensure_stream(client: DynamoDBClient, name: str, view_type: str) -> str:
    """Enable the table's stream (a table made before the feed was on has none); its ARN."""
    table = client.describe_table(TableName=name)["Table"]
    current: Mapping[str, Any] = table.get("StreamSpecification") or {}
    if not (current.get("StreamEnabled") and current.get("StreamViewType") == view_type):
        if current.get("StreamEnabled"):  # another view type: DynamoDB replaces the stream
            client.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
            _wait_until_active(client, name)
        specification: Any = {"StreamEnabled": True, "StreamViewType": view_type}
        client.update_table(TableName=name, StreamSpecification=specification)
        log.info("enabled the stream of table %s (%s)", name, view_type)
        _wait_until_active(client, name)
        table = client.describe_table(TableName=name)["Table"]
    arn = table.get("LatestStreamArn")
    if not arn:
        raise ProvisionError(f"table {name}: the engine reports no stream after enabling it")
    return arn


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
    if "StreamSpecification" in properties:  # `!If [ChangeFeedEnabled, …]`, already resolved
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


# --- the change feed: EventBridge bus, archive, and the local catch-all rule -------------------------


def _ensure_change_feed(
    endpoint: str,
    region: str,
    template: Template,
    parameters: StackParameters,
    names: ResourceNames,
    queue_urls: Mapping[str, str],
) -> ChangeFeed | None:
    """The bus, its archive, and a catch-all rule into a log group; None when the feed is off (or the
    template has no bus)."""
    declared = template["Resources"]
    if BUS_ID not in declared or not parameters.applies(BUS_ID):
        return None
    if CHANGES_FAILED_QUEUE_ID not in queue_urls:
        raise ProvisionError(f"{BUS_ID} exists without {CHANGES_FAILED_QUEUE_ID}: their Conditions differ")
    events = events_client(endpoint, region)
    bus_arn = _ensure_bus(events, names.bus)
    archive = None
    if ARCHIVE_ID in declared and parameters.applies(ARCHIVE_ID):
        properties = parameters.resolved(declared[ARCHIVE_ID].get("Properties") or {})
        archive = _fit(names.bus + ARCHIVE_SUFFIX, MAX_ARCHIVE_NAME)
        _ensure_archive(events, archive, bus_arn, properties, parameters)
    log_group = changes_log_group(names.bus)
    rule = _fit(names.bus + CATCH_ALL_SUFFIX, MAX_RULE_NAME)
    _ensure_catch_all(events, logs_client(endpoint, region), names.bus, rule, log_group)
    return ChangeFeed(
        bus_name=names.bus,
        bus_arn=bus_arn,
        archive=archive,
        failed_queue_url=queue_urls[CHANGES_FAILED_QUEUE_ID],
        rule=rule,
        log_group=log_group,
    )


def _ensure_bus(client: Any, name: str) -> str:
    """The bus's ARN, creating it if missing (its Name in the template holds the stack's name: the
    local name is ResourceNames.bus)."""
    try:
        return str(client.describe_event_bus(Name=name)["Arn"])
    except client.exceptions.ResourceNotFoundException:
        arn = str(client.create_event_bus(Name=name)["EventBusArn"])
        log.info("created event bus %s", name)
        return arn


def _ensure_archive(
    client: Any,
    name: str,
    bus_arn: str,
    properties: Mapping[str, Any],
    parameters: StackParameters,
) -> None:
    try:
        client.describe_archive(ArchiveName=name)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    request: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": bus_arn}
    if "Description" in properties:
        request["Description"] = str(properties["Description"])
    if "EventPattern" in properties:
        request["EventPattern"] = json.dumps(properties["EventPattern"])
    if "RetentionDays" in properties:
        request["RetentionDays"] = int(_parameter_or_literal(properties["RetentionDays"], parameters))
    client.create_archive(**request)
    log.info("created archive %s of event bus %s", name, bus_arn.rsplit("/", 1)[-1])


def _ensure_catch_all(events: Any, logs: Any, bus: str, rule: str, log_group: str) -> None:
    """A rule on the bus sending every change event to a log group, which keeps them (local only)."""
    try:
        logs.create_log_group(logGroupName=log_group)
        log.info("created log group %s", log_group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    found = logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    arn = next(str(group["arn"]) for group in found if group["logGroupName"] == log_group)
    arn = arn.removesuffix(":*")  # DescribeLogGroups' ARN covers the streams; a rule targets the group
    try:
        events.describe_rule(Name=rule, EventBusName=bus)
    except events.exceptions.ResourceNotFoundException:
        pattern = json.dumps({"source": [SOURCE]})
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=pattern, State="ENABLED")
        log.info("created rule %s on event bus %s (every event into %s)", rule, bus, log_group)
    targets = events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
    if not any(target["Arn"] == arn for target in targets):
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": CATCH_ALL_TARGET, "Arn": arn}])


def _parameter_or_literal(value: Any, parameters: StackParameters) -> str:
    target = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
    if isinstance(target, str):
        return parameters.value(target)
    if isinstance(value, dict | list):
        raise ProvisionError(f"unsupported locally (only literals and !Ref to parameters): {value}")
    return _attribute_text(value)


def _fit(name: str, limit: int) -> str:
    """`name`, or a shortened form with a hash of the whole when it is longer than `limit`."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1]}-{digest}"


def _attribute_text(value: Any) -> str:
    """SQS attribute values are strings; YAML booleans become "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"
