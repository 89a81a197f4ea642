"""template.yaml as CloudFormation sees it after the SAM transform (aws-sam-translator, offline).

Wiring (environment, permissions, event sources, redrive, TTL, indexes, alarms, outputs) is asserted on
the transformed template, and the PynamoDB models are held to the tables' key schemas.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from builders import (
    domain,
    envelope,
    invitation,
    membership,
    organization,
    payment_attempt,
    permission,
    role,
    session,
    signed,
    subscription,
    subscription_item,
    user,
    waitlist_entry,
)
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.adapters.clerk.listings import LISTINGS, Absence
from clerk_sync.adapters.clerk.retry import RetryPolicy
from clerk_sync.adapters.dynamodb.models import Versioned, bind_models
from clerk_sync.app.batch import run_batch
from clerk_sync.backfill.build import Settings as BackfillSettings
from clerk_sync.backfill.build import build_backfill
from clerk_sync.backfill.run import Options as BackfillOptions
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.domain.tables import IDEMPOTENCY_TEMPLATE_ID, TABLES, Table, children_of
from clerk_sync.read import ClerkData
from clerk_sync.settings import DEFAULT_TABLES, load_config, read_tables
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.provision import TABLE_ENV_VARS
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from fakes.clerk_api import SECRET_KEY, FakeClerkApi, populate_every_kind
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from stacks import environment as function_environment
from stacks import make_stack, make_worker, sqs_event

REGION = "us-east-1"
SYNCED_TABLES = tuple(spec.template_id for spec in TABLES.values())
WEBHOOK_TABLES = tuple(spec.template_id for spec in TABLES.values() if spec.from_webhooks)
ALL_TABLES = (*SYNCED_TABLES, IDEMPOTENCY_TEMPLATE_ID)
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}  # no resource-level permissions exist
UNSCOPED_ACTIONS = {*XRAY_ACTIONS, "ses:GetAccount"}  # the same: these only exist on "*"
SNS_ARNS = "arn:AWS::Partition:sns:*:*:*"  # sns:Publish on "*" only with every ARN denied (phone numbers)
SVIX_TIMEOUT_SECONDS = 15
_BOUND = bind_models(read_tables({}))
MODELS: dict[str, type[Versioned]] = {
    spec.template_id: _BOUND.for_table(table) for table, spec in TABLES.items()
}


def transform(template: dict[str, Any]) -> dict[str, Any]:
    """The SAM transform, as `sam deploy` has CloudFormation run it (after packaging the code)."""
    template = copy.deepcopy(template)
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(template, parameter_values={})


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def cfn(source: dict[str, Any]) -> dict[str, Any]:
    return transform(source)


@pytest.fixture(scope="module")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return dict(cfn["Resources"])


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(resources[logical_id]["Properties"])


def of_type(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == resource_type}


def target(value: Any) -> str:
    """A reference in canonical text: `X` (Ref), `X.Arn` (GetAtt), `X.Arn/index/i` (Sub), or a literal."""
    match value:
        case {"Ref": str() as name}:
            return name
        case {"Fn::GetAtt": [str() as name, str() as attribute]}:
            return f"{name}.{attribute}"
        case {"Fn::GetAtt": str() as dotted}:
            return dotted
        case {"Fn::Sub": str() as text}:
            return re.sub(r"\$\{([^}]+)\}", r"\1", text)
        case {"Fn::Sub": [str() as text, dict() as variables]}:
            return f"Sub({text}, {sorted(variables)})"
        case str():
            return value
    raise AssertionError(f"unexpected reference {value!r}")


# --- environment ---------------------------------------------------------------------------------

TABLE_VARIABLES = {variable: logical_id for logical_id, variable in TABLE_ENV_VARS.items()}
POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "clerk-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "ClerkSync",
    "POWERTOOLS_LOG_LEVEL": "LogLevel",
}


def environment(resources: dict[str, Any], function: str) -> dict[str, str]:
    variables = props(resources, function)["Environment"]["Variables"]
    return {name: target(value) for name, value in variables.items()}


def test_the_table_variables_are_the_ones_the_code_reads():
    assert set(TABLE_VARIABLES) == set(DEFAULT_TABLES)


def test_webhook_environment(resources):
    assert environment(resources, "WebhookFunction") == {
        **POWERTOOLS,
        **TABLE_VARIABLES,
        "SIDE_EFFECTS_QUEUE_URL": "SideEffectsQueue",
        "CLERK_WEBHOOK_SIGNING_SECRET_ARN": "SigningSecret",
        "STORE_COMPLETE_OBJECTS": "StoreCompleteObjects",
    }


def test_complete_objects_are_a_parameter_on_by_default_for_what_writes_records(cfn, resources):
    assert cfn["Parameters"]["StoreCompleteObjects"]["Default"] == "true"
    for function in ("WebhookFunction", "ReconcileFunction"):
        assert environment(resources, function)["STORE_COMPLETE_OBJECTS"] == "StoreCompleteObjects"


def test_worker_environment(resources):
    assert environment(resources, "SideEffectsFunction") == {
        **POWERTOOLS,
        **TABLE_VARIABLES,
        "SENDER_EMAIL": "SenderEmail",
        "SIDE_EFFECTS_QUEUE_URL": "SideEffectsQueue",
        "SES_MAX_SEND_RATE": "SesMaxSendRate",
        "WORKER_MAX_CONCURRENCY": "WorkerMaximumConcurrency",
        "SMS_ENABLED": "EnableSms",
        "SMS_ORIGINATION_NUMBER": "SmsOriginationNumber",
        "SMS_SENDER_ID": "SmsSenderId",
    }


def test_no_secret_value_in_the_template(source):
    text = json.dumps(source)
    assert not re.search(r"whsec_[A-Za-z0-9+/]{8,}", text)
    assert 'CLERK_WEBHOOK_SIGNING_SECRET"' not in text  # the local/dev variable is never set in AWS
    assert source["Resources"]["SigningSecret"]["Properties"].keys() == {"Description"}  # created empty


# --- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["WebhookFunction", "SideEffectsFunction"])
def test_runtime(resources, function):
    p = props(resources, function)
    assert p["Runtime"] == "python3.13" and p["Architectures"] == ["arm64"]
    assert p["TracingConfig"] == {"Mode": "Active"}
    module, _, attribute = p["Handler"].rpartition(".")
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as handler_source:
        assert re.search(rf"^def {attribute}\(", handler_source.read(), re.MULTILINE)
    assert target(p["LoggingConfig"]["LogGroup"]) == function.replace("Function", "LogGroup")


def test_webhook_timeout_is_well_inside_svix_15_seconds(resources):
    assert props(resources, "WebhookFunction")["Timeout"] <= SVIX_TIMEOUT_SECONDS - 5


def test_reserved_concurrency_is_a_parameter_with_an_opt_out(cfn, resources):
    value = props(resources, "WebhookFunction")["ReservedConcurrentExecutions"]
    assert value == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "WebhookReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert cfn["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookReservedConcurrency"}, -1]}]
    }


def test_snapstart_is_optional_and_off_by_default(cfn, resources):
    assert cfn["Parameters"]["EnableSnapStart"]["Default"] == "false"
    assert props(resources, "WebhookFunction")["SnapStart"] == {
        "Fn::If": ["SnapStartEnabled", {"ApplyOn": "PublishedVersions"}, {"Ref": "AWS::NoValue"}]
    }
    # SnapStart applies to published versions: SAM publishes one per change, behind the `live` alias
    [version] = of_type(resources, "AWS::Lambda::Version").values()
    assert target(version["Properties"]["FunctionName"]) == "WebhookFunction"
    alias = props(resources, "WebhookFunctionAliaslive")
    assert alias["Name"] == "live" and target(alias["FunctionName"]) == "WebhookFunction"


# --- event sources -------------------------------------------------------------------------------


def test_function_url_is_public_on_the_alias(resources):
    url = props(resources, "WebhookFunctionUrl")
    assert url["AuthType"] == "NONE"  # the Svix signature is the authentication
    assert target(url["TargetFunctionArn"]) == "WebhookFunctionAliaslive"


def test_http_api_route(resources):
    body = props(resources, "WebhookHttpApi")["Body"]
    assert list(body["paths"]) == ["/webhooks/clerk"]
    assert list(body["paths"]["/webhooks/clerk"]) == ["post"]
    integration = body["paths"]["/webhooks/clerk"]["post"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == "2.0"
    assert "${WebhookFunctionAliaslive}" in integration["uri"]["Fn::Sub"]
    stage = props(resources, "WebhookHttpApiApiGatewayDefaultStage")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert target(stage["AccessLogSettings"]["DestinationArn"]) == "HttpApiAccessLogGroup.Arn"


def mappings_of(resources: dict[str, Any], function: str) -> dict[str, Any]:
    """The event source mappings invoking `function`."""
    return {
        name: mapping
        for name, mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").items()
        if target(mapping["Properties"]["FunctionName"]) == function
    }


def test_worker_consumes_the_queue_with_partial_batch_failures(resources):
    [(_, mapping)] = mappings_of(resources, "SideEffectsFunction").items()
    p = mapping["Properties"]
    assert target(p["EventSourceArn"]) == "SideEffectsQueue.Arn"
    assert target(p["FunctionName"]) == "SideEffectsFunction"
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert target(p["ScalingConfig"]["MaximumConcurrency"]) == "WorkerMaximumConcurrency"


# --- change feed ---------------------------------------------------------------------------------

FEED = "ChangeFeedEnabled"
STREAM = {"Fn::If": [FEED, {"StreamViewType": "NEW_AND_OLD_IMAGES"}, {"Ref": "AWS::NoValue"}]}


def test_every_synced_table_streams_its_changes_to_the_changes_function(resources):
    for table in SYNCED_TABLES:
        assert props(resources, table)["StreamSpecification"] == STREAM, table
    assert "StreamSpecification" not in props(resources, IDEMPOTENCY_TEMPLATE_ID)
    mappings = mappings_of(resources, "ChangesFunction")
    assert {target(m["Properties"]["EventSourceArn"]) for m in mappings.values()} == {
        f"{table}.StreamArn" for table in SYNCED_TABLES
    }
    for mapping in mappings.values():
        p = mapping["Properties"]
        assert mapping["Condition"] == FEED
        assert p["StartingPosition"] == "TRIM_HORIZON"  # a new stream: from its first record
        assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert p["BisectBatchOnFunctionError"] is True
        assert target(p["MaximumRetryAttempts"]) == "ChangeRetryAttempts"
        assert p["MaximumRecordAgeInSeconds"] == 24 * 3600  # what the stream keeps
        assert p["ParallelizationFactor"] == 1  # one batch at a time per shard: per-key order kept
        assert target(p["DestinationConfig"]["OnFailure"]["Destination"]) == "ChangesFailedQueue.Arn"


def test_the_changes_function_publishes_to_the_bus(resources):
    assert environment(resources, "ChangesFunction") == {
        **POWERTOOLS,
        **TABLE_VARIABLES,
        "CHANGES_BUS_NAME": "ChangesBus",
        "CHANGE_DETAIL": "ChangeDetail",
    }
    assert props(resources, "ChangesFunction")["Handler"] == "clerk_sync.handlers.changes.handler"
    assert target(props(resources, "ChangesBus")["Name"]) == "AWS::StackName-changes"
    archive = props(resources, "ChangesArchive")
    assert target(archive["SourceArn"]) == "ChangesBus.Arn"
    assert target(archive["RetentionDays"]) == "ChangeArchiveRetentionDays"
    assert archive["EventPattern"] == {"source": ["clerk-sync"]}


def test_the_feed_is_on_by_default_and_off_creates_none_of_it(cfn, resources):
    parameters = cfn["Parameters"]
    assert parameters["ChangeFeed"]["Default"] == "true"
    assert parameters["ChangeDetail"]["Default"] == "full"
    assert parameters["ChangeDetail"]["AllowedValues"] == ["full", "keys"]
    assert parameters["ChangeArchiveRetentionDays"]["Default"] == 30
    assert cfn["Conditions"][FEED] == {"Fn::Equals": [{"Ref": "ChangeFeed"}, "true"]}
    assert cfn["Conditions"]["ChangeArchiveEnabled"] == {
        "Fn::And": [
            {"Condition": FEED},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ChangeArchiveRetentionDays"}, 0]}]},
        ]
    }
    feed = {name for name, r in resources.items() if r.get("Condition") == FEED}
    assert feed == {
        "ChangesFunction", "ChangesBus", "ChangesFailedQueue", "ChangesLogGroup", "ChangesFunctionRole",
        "ChangesFailedAlarm", "ChangesLagAlarm", "ChangesErrorsAlarm",
        *mappings_of(resources, "ChangesFunction"),
    }  # fmt: skip
    assert resources["ChangesArchive"]["Condition"] == "ChangeArchiveEnabled"
    # nothing else refers to them (a reference from an unconditional resource would fail with the feed off)
    conditional = {*feed, "ChangesArchive"}
    for name, resource in resources.items():
        if name in conditional or name == "Dashboard":
            continue
        text = json.dumps(resource)
        assert not any(f'"{other}"' in text for other in conditional), name
    outputs = {name: o.get("Condition") for name, o in cfn["Outputs"].items() if name.startswith("Changes")}
    assert outputs == {
        "ChangesBusName": FEED,
        "ChangesBusArn": FEED,
        "ChangesArchiveArn": "ChangeArchiveEnabled",
        "ChangesFailedQueueUrl": FEED,
    }
    export = cfn["Outputs"]["ChangesBusName"]["Export"]["Name"]
    assert export == {"Fn::Sub": "${AWS::StackName}-ChangesBusName"}


# --- queues --------------------------------------------------------------------------------------


def test_redrive_and_visibility(resources):
    queue = props(resources, "SideEffectsQueue")
    assert target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == "SideEffectsDeadLetterQueue.Arn"
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] >= 6 * props(resources, "SideEffectsFunction")["Timeout"]
    assert props(resources, "SideEffectsDeadLetterQueue")["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("queue", ["SideEffectsQueue", "SideEffectsDeadLetterQueue"])
def test_queues_are_encrypted_and_tls_only(resources, queue):
    assert str(props(resources, queue)["SqsManagedSseEnabled"]).lower() == "true"
    [policy] = of_type(resources, "AWS::SQS::QueuePolicy").values()
    assert queue in {target(q) for q in policy["Properties"]["Queues"]}
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


# --- tables --------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ALL_TABLES)
def test_tables_are_on_demand_encrypted_and_recoverable(resources, table):
    p = props(resources, table)
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["SSESpecification"] == {"SSEEnabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("table", SYNCED_TABLES)
def test_data_tables_outlive_the_stack(resources, table):
    assert resources[table]["DeletionPolicy"] == "Retain"
    assert resources[table]["UpdateReplacePolicy"] == "Retain"


def test_idempotency_table_is_what_powertools_expects(resources):
    p = props(resources, "IdempotencyTable")
    assert p["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert _types(p["AttributeDefinitions"]) == {"id": "S", "unconfirmed": "S", "claimed_at": "N"}
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    # the e-mail claims' sparse index, under the names the mailer queries
    from clerk_sync.adapters.ses import UNCONFIRMED_INDEX

    [index] = p["GlobalSecondaryIndexes"]
    assert index["IndexName"] == UNCONFIRMED_INDEX
    assert _keys(index["KeySchema"]) == {"unconfirmed": "HASH", "claimed_at": "RANGE"}


def _keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["AttributeName"]: k["KeyType"] for k in key_schema}


def _types(definitions: list[dict[str, str]]) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


@pytest.mark.parametrize("table", SYNCED_TABLES)
def test_models_match_the_tables(resources, table):
    p = props(resources, table)
    schema = MODELS[table]._get_schema()
    assert _keys(schema["key_schema"]) == _keys(p["KeySchema"])
    assert _types(schema["attribute_definitions"]) == _types(p["AttributeDefinitions"])
    table_indexes = {i["IndexName"]: i for i in p.get("GlobalSecondaryIndexes", [])}
    model_indexes = {i["index_name"]: i for i in schema["global_secondary_indexes"]}
    assert set(model_indexes) == set(table_indexes)
    for name, index in table_indexes.items():
        assert _keys(model_indexes[name]["key_schema"]) == _keys(index["KeySchema"]), name
        assert model_indexes[name]["projection"] == index["Projection"], name
    assert schema["local_secondary_indexes"] == [] and "LocalSecondaryIndexes" not in p


def test_the_registry_is_the_templates_tables(resources):
    in_template = {name for name, resource in resources.items() if resource["Type"] == "AWS::DynamoDB::Table"}
    assert in_template == set(ALL_TABLES)
    for table, spec in TABLES.items():
        key_schema = props(resources, spec.template_id)["KeySchema"]
        assert tuple(k["AttributeName"] for k in key_schema) == spec.key_names  # HASH first
        model = _BOUND.for_table(table)
        assert (model._hash_keyname, model._range_keyname) == (*spec.key_names, None)[:2]
        assert model.Meta.table_name == DEFAULT_TABLES[f"{table.name}_TABLE"]


def test_the_documented_indexes(resources):
    indexes = {
        table: {
            i["IndexName"]: _keys(i["KeySchema"])
            for i in props(resources, table).get("GlobalSecondaryIndexes", [])
        }
        for table in SYNCED_TABLES
    }
    assert indexes == {
        "UsersTable": {"email-index": {"email": "HASH"}},
        "OrganizationsTable": {"slug-index": {"slug": "HASH"}},
        "MembershipsTable": {"user-index": {"user_id": "HASH", "organization_id": "RANGE"}},
        "SessionsTable": {"user-index": {"user_id": "HASH"}},
        "InvitationsTable": {
            "organization-index": {"organization_id": "HASH"},
            "email-index": {"email_address": "HASH"},
        },
        "RolesTable": {"key-index": {"key": "HASH"}},
        "PermissionsTable": {"key-index": {"key": "HASH"}},
        "DomainsTable": {"organization-index": {"organization_id": "HASH"}, "name-index": {"name": "HASH"}},
        "WaitlistTable": {"email-index": {"email_address": "HASH"}},
        **{
            billing: {"user-index": {"user_id": "HASH"}, "organization-index": {"organization_id": "HASH"}}
            for billing in ("SubscriptionsTable", "SubscriptionItemsTable", "PaymentAttemptsTable")
        },
        "PlansTable": {},  # read by key only (BatchGetItem of the plans a payer's items name)
    }


# --- permissions ---------------------------------------------------------------------------------


def statements(resources: dict[str, Any], role: str) -> Iterator[dict[str, Any]]:
    """Every statement of the role's inline policies (both branches of a condition are taken), and of
    the AWS::IAM::RolePolicy resources attached to it."""
    for policy in props(resources, role)["Policies"]:
        if "Fn::If" in policy:
            _, chosen, other = policy["Fn::If"]
            assert other == {"Ref": "AWS::NoValue"}
            policy = chosen
        yield from policy["PolicyDocument"]["Statement"]
    for attached in of_type(resources, "AWS::IAM::RolePolicy").values():
        if target(attached["Properties"]["RoleName"]) == role:
            yield from attached["Properties"]["PolicyDocument"]["Statement"]


def grants(resources: dict[str, Any], role: str, effect: str = "Allow") -> set[tuple[str, str]]:
    """(action, resource) pairs the role allows (or, with effect="Deny", denies)."""
    out: set[tuple[str, str]] = set()
    for statement in statements(resources, role):
        assert statement["Effect"] in ("Allow", "Deny")
        assert (
            "NotAction" not in statement and "NotResource" not in statement and "Condition" not in statement
        )
        if statement["Effect"] != effect:
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        out |= {(action, target(resource)) for action in actions for resource in found}
    return out


def table_grants(tables: tuple[str, ...], actions: tuple[str, ...], suffix: str = "") -> set[tuple[str, str]]:
    return {(f"dynamodb:{a}", f"{t}.Arn{suffix}") for t in tables for a in actions}


POWERTOOLS_IDEMPOTENCY = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
XRAY = {(action, "*") for action in XRAY_ACTIONS}

# What the clean-ups query and tombstone: every child table, by the index its parent link names.
CLEANUP_QUERIES = {
    ("dynamodb:Query", f"{spec.template_id}.Arn" + (f"/index/{link.index}" if link.index else ""))
    for parent in (Table.USERS, Table.ORGANIZATIONS)
    for spec, link in children_of(parent)
}
CHILD_TABLES = tuple(
    dict.fromkeys(
        spec.template_id for parent in (Table.USERS, Table.ORGANIZATIONS) for spec, _ in children_of(parent)
    )
)

# Backfill reads and writes every kind it lists; reconcile scans the live keys of the kinds it can
# confirm absent (not subscription items: docs/backfill.md).
BACKFILLED_TABLES = tuple(TABLES[table].template_id for table in LISTINGS)
RECONCILED_TABLES = tuple(
    TABLES[table].template_id for table, kind in LISTINGS.items() if kind.absence is not Absence.NONE
)

EXPECTED_GRANTS = {
    "WebhookFunctionRole": {
        ("logs:CreateLogStream", "WebhookLogGroup.Arn"),
        ("logs:PutLogEvents", "WebhookLogGroup.Arn"),
        *XRAY,
        ("secretsmanager:GetSecretValue", "SigningSecret"),
        *table_grants(WEBHOOK_TABLES, ("PutItem",)),
        *table_grants(("UsersTable", "OrganizationsTable"), ("ConditionCheckItem",)),
        *table_grants(("IdempotencyTable",), POWERTOOLS_IDEMPOTENCY),
        ("sqs:SendMessage", "SideEffectsQueue.Arn"),
    },
    "SideEffectsFunctionRole": {
        ("logs:CreateLogStream", "SideEffectsLogGroup.Arn"),
        ("logs:PutLogEvents", "SideEffectsLogGroup.Arn"),
        *XRAY,
        *{
            (f"sqs:{a}", "SideEffectsQueue.Arn")
            for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility")
        },
        ("dynamodb:GetItem", "UsersTable.Arn"),
        ("sqs:SendMessage", "SideEffectsQueue.Arn"),  # clean-up continuations
        *CLEANUP_QUERIES,
        *table_grants(CHILD_TABLES, ("BatchWriteItem",)),
        *table_grants(("IdempotencyTable",), POWERTOOLS_IDEMPOTENCY),
        ("ses:SendEmail", "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/SenderEmail"),
        (
            "ses:SendEmail",
            "Sub(arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Domain}, ['Domain'])",
        ),
        ("ses:GetAccount", "*"),
        ("sns:Publish", "*"),  # phone numbers only: see EXPECTED_DENIALS
    },
    "ReconcileFunctionRole": {
        ("logs:CreateLogStream", "ReconcileLogGroup.Arn"),
        ("logs:PutLogEvents", "ReconcileLogGroup.Arn"),
        *XRAY,
        ("secretsmanager:GetSecretValue", "ClerkSecretKey"),
        *table_grants(BACKFILLED_TABLES, ("BatchGetItem", "PutItem")),
        *table_grants(RECONCILED_TABLES, ("Scan",)),
        *table_grants(("UsersTable", "OrganizationsTable"), ("ConditionCheckItem",)),
        *table_grants(("IdempotencyTable",), ("GetItem", "PutItem", "UpdateItem", "BatchGetItem")),  # runs
        ("lambda:InvokeFunction", "ReconcileFunction.Arn"),  # the hand-over to its next invocation
    },
    "ChangesFunctionRole": {
        ("logs:CreateLogStream", "ChangesLogGroup.Arn"),
        ("logs:PutLogEvents", "ChangesLogGroup.Arn"),
        *XRAY,
        *{
            (f"dynamodb:{action}", f"{table}.StreamArn")
            for table in SYNCED_TABLES
            for action in ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")
        },
        ("events:PutEvents", "ChangesBus.Arn"),
        ("sqs:SendMessage", "ChangesFailedQueue.Arn"),  # the event source mappings' on-failure destination
    },
    # made by SAM for the ScheduleV2 event: EventBridge Scheduler may invoke the function, nothing else
    "ReconcileFunctionScheduleRole": {("lambda:InvokeFunction", "ReconcileFunction.Arn")},
}


@pytest.mark.parametrize(
    ("function", "role"),
    [
        ("WebhookFunction", "WebhookFunctionRole"),
        ("SideEffectsFunction", "SideEffectsFunctionRole"),
        ("ChangesFunction", "ChangesFunctionRole"),
    ],
)
def test_each_function_has_its_own_role_without_managed_policies(resources, function, role):
    assert target(props(resources, function)["Role"]) == f"{role}.Arn"
    p = props(resources, role)
    assert "ManagedPolicyArns" not in p  # AWS managed Lambda policies grant on "*"
    [trust] = p["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


# A publish to a phone number has no ARN, so sns:Publish is allowed on "*"; every SNS ARN (topics,
# platform endpoints) is denied, so the worker can text people and nothing else.
EXPECTED_DENIALS = {"SideEffectsFunctionRole": {("sns:Publish", SNS_ARNS)}}


@pytest.mark.parametrize("role", list(EXPECTED_GRANTS))
def test_exact_actions_on_exact_resources(resources, role):
    assert grants(resources, role) == EXPECTED_GRANTS[role]
    assert grants(resources, role, "Deny") == EXPECTED_DENIALS.get(role, set())


def test_sms_permissions_come_only_with_sms_turned_on(cfn, resources):
    assert cfn["Parameters"]["EnableSms"]["Default"] == "false"
    [sms_policy] = [
        policy["Fn::If"]
        for policy in props(resources, "SideEffectsFunctionRole")["Policies"]
        if "Fn::If" in policy and policy["Fn::If"][1]["PolicyName"] == "send-sms"
    ]
    condition, chosen, _ = sms_policy
    assert condition == "SmsEnabled" and cfn["Conditions"]["SmsEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableSms"}, "true"]
    }
    assert {statement["Sid"]: statement["Effect"] for statement in chosen["PolicyDocument"]["Statement"]} == {
        "PublishToPhoneNumbers": "Allow",
        "NoTopicsOrEndpoints": "Deny",
    }
    variables = props(resources, "SideEffectsFunction")["Environment"]["Variables"]
    assert {name: target(variables[name]) for name in variables if name.startswith("SMS_")} == {
        "SMS_ENABLED": "EnableSms",
        "SMS_ORIGINATION_NUMBER": "SmsOriginationNumber",
        "SMS_SENDER_ID": "SmsSenderId",
    }


def test_no_other_iam_in_the_stack(resources):
    assert set(of_type(resources, "AWS::IAM::Role")) == set(EXPECTED_GRANTS)
    assert not of_type(resources, "AWS::IAM::Policy")
    assert set(of_type(resources, "AWS::IAM::ManagedPolicy")) == {"ClerkDataReadPolicy"}  # for apps, below


READ_POLICY_GRANTS = {
    *table_grants(SYNCED_TABLES, ("GetItem", "BatchGetItem", "Query")),
    ("dynamodb:Query", "UsersTable.Arn/index/email-index"),
    ("dynamodb:Query", "OrganizationsTable.Arn/index/slug-index"),
    ("dynamodb:Query", "MembershipsTable.Arn/index/user-index"),
    ("dynamodb:Query", "SessionsTable.Arn/index/user-index"),
    ("dynamodb:Query", "InvitationsTable.Arn/index/organization-index"),
    ("dynamodb:Query", "InvitationsTable.Arn/index/email-index"),
    ("dynamodb:Query", "RolesTable.Arn/index/key-index"),
    ("dynamodb:Query", "PermissionsTable.Arn/index/key-index"),
    ("dynamodb:Query", "DomainsTable.Arn/index/organization-index"),
    ("dynamodb:Query", "DomainsTable.Arn/index/name-index"),
    ("dynamodb:Query", "WaitlistTable.Arn/index/email-index"),
    *{
        ("dynamodb:Query", f"{billing}.Arn/index/{index}")
        for billing in ("SubscriptionsTable", "SubscriptionItemsTable", "PaymentAttemptsTable")
        for index in ("user-index", "organization-index")
    },
}


def policy_grants(resources: dict[str, Any], policy: str) -> set[tuple[str, str]]:
    """(action, resource) pairs a managed policy allows."""
    out: set[tuple[str, str]] = set()
    for statement in props(resources, policy)["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        out |= {(action, target(resource)) for action in actions for resource in statement["Resource"]}
    return out


def test_the_read_policy_reads_the_synced_tables_and_their_indexes_only(cfn, resources):
    assert policy_grants(resources, "ClerkDataReadPolicy") == READ_POLICY_GRANTS
    assert target(cfn["Outputs"]["ClerkDataReadPolicyArn"]["Value"]) == "ClerkDataReadPolicy"


@pytest.mark.parametrize("role", list(EXPECTED_GRANTS))
def test_no_wildcards(resources, role):
    for action, resource in grants(resources, role):
        assert "*" not in action, action
        texts_only = action == "sns:Publish" and (action, SNS_ARNS) in grants(resources, role, "Deny")
        assert resource != "*" or action in UNSCOPED_ACTIONS or texts_only, (action, resource)
        assert not resource.endswith("/index/*"), "name the index"


def test_index_grants_name_existing_indexes(resources):
    every = [grants(resources, role) for role in EXPECTED_GRANTS]
    for granted in [*every, policy_grants(resources, "ClerkDataReadPolicy")]:
        for _, resource in granted:
            if "/index/" in resource:
                table, index = resource.split(".Arn/index/")
                names = {i["IndexName"] for i in props(resources, table)["GlobalSecondaryIndexes"]}
                assert index in names, resource


def test_send_email_only_with_a_sender(resources):
    [conditional] = [
        p
        for p in props(resources, "SideEffectsFunctionRole")["Policies"]
        if "Fn::If" in p and p["Fn::If"][0] == "HasSenderEmail"
    ]
    statement, quota = conditional["Fn::If"][1]["PolicyDocument"]["Statement"]
    assert (statement["Action"], quota["Action"]) == ("ses:SendEmail", "ses:GetAccount")
    domain = statement["Resource"][1]["Fn::Sub"][1]["Domain"]
    # the domain of "a@b.example" is "b.example", and an empty sender does not break the expression
    assert domain == {"Fn::Select": [1, {"Fn::Split": ["@", {"Fn::Sub": "${SenderEmail}@"}]}]}


# --- alarms, dashboard, outputs ------------------------------------------------------------------


def alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric, dimensions) the alarm watches."""
    p = alarm["Properties"]
    if "MetricName" in p:
        found = [(p["Namespace"], p["MetricName"], p.get("Dimensions", []))]
    else:
        found = [
            (
                m["MetricStat"]["Metric"]["Namespace"],
                m["MetricStat"]["Metric"]["MetricName"],
                m["MetricStat"]["Metric"].get("Dimensions", []),
            )
            for m in p["Metrics"]
            if "MetricStat" in m
        ]
    return {
        (ns, name, tuple(sorted((d["Name"], target(d["Value"])) for d in dims))) for ns, name, dims in found
    }


EXPECTED_ALARMS = {
    "DeadLetterQueueAlarm": {
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            (("QueueName", "SideEffectsDeadLetterQueue.QueueName"),),
        )
    },
    "Webhook5xxAlarm": {
        ("AWS/ApiGateway", "5xx", (("ApiId", "WebhookHttpApi"), ("Stage", "$default"))),
        ("AWS/Lambda", "Url5xxCount", (("FunctionName", "WebhookFunction"),)),
    },
    "WebhookErrorsAlarm": {("AWS/Lambda", "Errors", (("FunctionName", "WebhookFunction"),))},
    "SignatureFailuresAlarm": {("ClerkSync", "SignatureFailures", (("service", "clerk-sync"),))},
    "RejectedPayloadAlarm": {("ClerkSync", "RejectedPayload", (("service", "clerk-sync"),))},
    "ThrottlesAlarm": {
        ("AWS/Lambda", "Throttles", (("FunctionName", "WebhookFunction"),)),
        ("AWS/Lambda", "Throttles", (("FunctionName", "SideEffectsFunction"),)),
    },
    "WorkerErrorsAlarm": {("AWS/Lambda", "Errors", (("FunctionName", "SideEffectsFunction"),))},
    "QueueAgeAlarm": {
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", (("QueueName", "SideEffectsQueue.QueueName"),))
    },
    "UnconfirmedEmailsAlarm": {("ClerkSync", "UnconfirmedEmails", (("service", "clerk-sync"),))},
    "UnconfirmedSmsAlarm": {("ClerkSync", "UnconfirmedSms", (("service", "clerk-sync"),))},
    "ChangesFailedAlarm": {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "ChangesFailedQueue.QueueName"),))
    },
    "ChangesLagAlarm": {("AWS/Lambda", "IteratorAge", (("FunctionName", "ChangesFunction"),))},
    "ChangesErrorsAlarm": {("AWS/Lambda", "Errors", (("FunctionName", "ChangesFunction"),))},
}


def test_alarms_watch_the_right_metrics_and_notify_the_topic(resources):
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert {name: alarm_metrics(alarm) for name, alarm in alarms.items()} == EXPECTED_ALARMS
    for alarm in alarms.values():
        assert [target(a) for a in alarm["Properties"]["AlarmActions"]] == ["AlarmTopic"]
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    assert props(resources, "DeadLetterQueueAlarm")["Threshold"] == 0  # any message at all
    assert props(resources, "DeadLetterQueueAlarm")["ComparisonOperator"] == "GreaterThanThreshold"
    assert props(resources, "RejectedPayloadAlarm")["Threshold"] == 1  # every one is retried for 28 h
    assert "4xx" in props(resources, "RejectedPayloadAlarm")["AlarmDescription"]


def test_alarm_email_is_optional(cfn, resources):
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and cfn["Parameters"]["AlarmEmail"]["Default"] == ""
    assert target(subscription["Properties"]["TopicArn"]) == "AlarmTopic"


def test_the_code_emits_the_metrics_the_alarms_and_dashboard_read(resources, capsys):
    """SignatureFailures (alarm) and Deliveries (dashboard) under the names the template uses."""
    from clerk_sync.adapters.http import HttpEdge
    from clerk_sync.app.receiver import Receiver
    from clerk_sync.observability import NAMESPACE, SERVICE, metrics

    assert (NAMESPACE, SERVICE) == ("ClerkSync", "clerk-sync")
    receiver = HttpEdge(Receiver(signing_keys=lambda: (b"key",), processor=None))  # type: ignore[arg-type]
    event = {
        "rawPath": "/webhooks/clerk",
        "requestContext": {"http": {"method": "POST"}},
        "headers": {"svix-id": "msg_1", "svix-timestamp": "1", "svix-signature": "v1,AAAA"},
        "body": "{}",
    }
    capsys.readouterr()
    assert receiver.handle(event, None)["statusCode"] == 401
    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    [directive] = emitted["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ClerkSync" and ["service"] in directive["Dimensions"]
    assert emitted["service"] == "clerk-sync" and "SignatureFailures" in emitted

    [delivery] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Deliveries"' in line]
    [directive] = delivery["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ClerkSync"
    assert sorted(directive["Dimensions"][0]) == ["outcome", "service", "type"]
    assert (delivery["service"], delivery["outcome"]) == ("clerk-sync", "rejected_401")


def dashboard_text(resources: dict[str, Any]) -> str:
    """The dashboard's body with the change feed's alarms in (ChangeFeed "true")."""
    body, variables = props(resources, "Dashboard")["DashboardBody"]["Fn::Sub"]
    condition, alarms, without = variables["ChangeAlarms"]["Fn::If"]
    assert (condition, without) == (FEED, "")
    return str(body).replace("${ChangeAlarms}", alarms["Fn::Sub"])


def dashboard(resources: dict[str, Any]) -> dict[str, Any]:
    body = dashboard_text(resources)
    resolved = re.sub(r"\$\{!", "${", re.sub(r"\$\{[A-Za-z:.]+\}", "X", body))
    return dict(json.loads(resolved))


def test_dashboard(resources):
    body = dashboard_text(resources)
    widgets = dashboard(resources)["widgets"]
    expressions = [
        m[0]["expression"]
        for w in widgets
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
        if "expression" in m[0]
    ]
    schema = 'SEARCH(\'{ClerkSync,outcome,service,type} MetricName="Deliveries"'
    assert any(e.startswith(schema) for e in expressions)  # by type
    assert sum(e.startswith("SUM(" + schema) and "outcome=" in e for e in expressions) >= 5  # by outcome
    assert any('outcome="rejected_payload"' in e for e in expressions)  # what RejectedPayloadAlarm counts
    assert "Duration" in body and "p99" in body and "Latency" in body
    assert [w["type"] for w in widgets].count("alarm") == 1
    listed = set(re.findall(r"\$\{(\w+)\.Arn\}", body[body.index('"type": "alarm"') :]))
    assert listed == set(of_type(resources, "AWS::CloudWatch::Alarm"))


def test_outputs(cfn):
    outputs = {name: target(o["Value"]) for name, o in cfn["Outputs"].items()}
    assert outputs["FunctionUrlEndpoint"] == "WebhookFunctionUrl.FunctionUrlwebhooks/clerk"
    assert (
        outputs["HttpApiEndpoint"]
        == "https://WebhookHttpApi.execute-api.AWS::Region.AWS::URLSuffix/webhooks/clerk"
    )
    assert outputs["SigningSecretArn"] == "SigningSecret"
    for table in ALL_TABLES:
        assert outputs[f"{table}Name"] == table
    assert outputs["SideEffectsQueueUrl"] == "SideEffectsQueue"
    assert outputs["SideEffectsDeadLetterQueueUrl"] == "SideEffectsDeadLetterQueue"


# --- samconfig.toml ------------------------------------------------------------------------------

SAMCONFIG = TEMPLATE_PATH.parent / "samconfig.toml"


@pytest.mark.parametrize("env", ["default", "prod"])
def test_samconfig_environment(source, env):
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    assert config[env]["validate"]["parameters"]["lint"] is True
    deploy = config[env]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"clerk-sync-{'dev' if env == 'default' else env}"
    assert deploy["resolve_s3"] is True and deploy["capabilities"] == "CAPABILITY_IAM"
    assert isinstance(deploy["confirm_changeset"], bool) and deploy["region"]
    raw = deploy["parameter_overrides"]
    items = raw if isinstance(raw, list) else shlex.split(raw)
    overrides = dict(shlex.split(item)[0].split("=", 1) for item in items)
    parameters = source["Parameters"]
    for name, value in overrides.items():
        assert name in parameters, name
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], (name, value)
        if "MinValue" in spec:
            assert spec["MinValue"] <= int(value) <= spec.get("MaxValue", int(value)), (name, value)
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


# --- the grants cover what the code actually calls (recorded against moto) -----------------------

T0 = 1_732_000_000_100


class Recorder:
    """Every AWS API call of a function, as the (action, resource) pairs IAM would evaluate."""

    def __init__(self, tables: dict[str, str], queue_url: str, sender: str | None = None) -> None:
        self.logical = {name: logical_id for logical_id, name in tables.items()}
        self.queue_url = queue_url
        self.sender = sender
        self.needed: set[tuple[str, str]] = set()
        self.sent: list[str] = []  # message bodies (some are delayed on the queue)

    def hook(self) -> tuple[str, Any]:
        return ("provide-client-params", self._record)

    def _table(self, name: str, index: str | None = None) -> str:
        return f"{self.logical[name]}.Arn" + (f"/index/{index}" if index else "")

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        if service == "dynamodb" and operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                [(kind, body)] = item.items()
                action = "ConditionCheckItem" if kind == "ConditionCheck" else f"{kind}Item"
                self.needed.add((f"dynamodb:{action}", self._table(body["TableName"])))
        elif service == "dynamodb" and operation in ("BatchWriteItem", "BatchGetItem"):
            self.needed |= {(f"dynamodb:{operation}", self._table(name)) for name in params["RequestItems"]}
        elif service == "dynamodb":
            self.needed.add(
                (f"dynamodb:{operation}", self._table(params["TableName"], params.get("IndexName")))
            )
        elif service == "sqs":
            assert params["QueueUrl"] == self.queue_url
            self.sent.append(params["MessageBody"])
            self.needed.add((f"sqs:{operation}", "SideEffectsQueue.Arn"))
        elif service == "sesv2" and operation == "SendEmail":
            assert params["FromEmailAddress"] == self.sender
            identity = "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/SenderEmail"
            self.needed.add(("ses:SendEmail", identity))
        elif service == "sns" and operation == "Publish":
            assert "PhoneNumber" in params and not {"TopicArn", "TargetArn"} & set(params)
            self.needed.add(("sns:Publish", "*"))
        elif service == "secretsmanager":
            self.needed.add((f"secretsmanager:{operation}", "SigningSecret"))
        else:
            self.needed.add((f"{service}:{operation}", "?"))


SMS = {
    **{"object": "sms_message", "id": "sms_p", "to_phone_number": "+12015550123", "message": "Code 1"},
    **{"delivered_by_clerk": False, "status": "queued", "slug": "verification_code"},
}


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_the_grants_cover_every_call_the_functions_make(backend, resources, request):
    stack = make_stack(backend, request.node.name)
    webhook = Recorder(stack.tables, stack.queue_url)
    receiver = build_receiver(
        load_config(function_environment(stack.tables, stack.queue_url)),
        stack.endpoints,
        hooks=[webhook.hook()],
    )
    email = {
        **{"object": "email", "id": "ema_p", "to_email_address": "ann@example.com", "subject": "Hi"},
        **{"body": "<p>Hi</p>", "body_plain": "Hi", "delivered_by_clerk": False, "status": "queued"},
    }
    deliveries = [
        signed(envelope("user.created", user("user_p", T0)), svix_id="msg_p1"),
        signed(envelope("user.created", user("user_p", T0)), svix_id="msg_p1"),  # a retry
        signed(envelope("user.updated", user("user_p", T0 - 50))),  # stale
        signed(envelope("organization.created", organization("org_p", T0))),
        signed(envelope("organizationMembership.created", membership("org_p", "user_p", T0))),
        signed(envelope("session.created", session("sess_p", "user_p", T0))),
        signed(envelope("email.created", email)),
        signed(envelope("sms.created", SMS)),
        signed(envelope("organizationInvitation.created", invitation("orginv_p", "org_p", T0))),
        signed(envelope("role.created", role("role_p", T0, permissions=("org:docs:read",)))),
        signed(envelope("permission.created", permission("perm_p", T0))),
        signed(envelope("organizationDomain.created", domain("orgdm_p", "org_p", T0))),
        signed(envelope("waitlistEntry.created", waitlist_entry("wle_p", T0))),
        signed(envelope("subscription.created", subscription("csub_p", "org_p", T0))),
        signed(envelope("subscriptionItem.active", subscription_item("csubi_p", "user_p"), T0)),
        signed(envelope("paymentAttempt.created", payment_attempt("cpa_p", "user_p", T0))),
        signed(envelope("role.deleted", {"object": "role", "id": "role_p", "deleted": True}, T0 + 5)),
        signed(envelope("organization.deleted", {"id": "org_p", "deleted": True}, T0 + 10)),
        signed(envelope("user.deleted", {"id": "user_p", "deleted": True}, T0 + 20)),
    ]
    for delivery in deliveries:
        assert receiver.handle(delivery, LocalContext("WebhookFunction"))["statusCode"] == 200

    sender = "welcome@example.com"
    worker_calls = Recorder(stack.tables, stack.queue_url, sender)
    worker = make_worker(stack, sender=sender, hooks=[worker_calls.hook()])
    bodies = webhook.sent
    assert {json.loads(b)["kind"] for b in bodies} == {
        "welcome_email", "deliver_email", "deliver_sms", "organization_cleanup", "user_cleanup"
    }  # fmt: skip
    failures = run_batch(worker, sqs_event(bodies), LocalContext("SideEffectsFunction"))
    assert failures == {"batchItemFailures": []}

    webhook_grants = grants(resources, "WebhookFunctionRole")
    worker_grants = grants(resources, "SideEffectsFunctionRole")
    assert webhook.needed - webhook_grants == set()
    assert worker_calls.needed - worker_grants == set()
    # and, the other way round, nothing granted goes unused (apart from logs, traces, the queue
    # consumption done by the event source mapping, and what only some paths need)
    service_side = {a for a in webhook_grants | worker_grants if a[0].split(":")[0] in ("logs", "xray")}
    unused_webhook = (
        webhook_grants
        - webhook.needed
        - service_side
        - {
            ("secretsmanager:GetSecretValue", "SigningSecret"),  # static secret in this test
            ("dynamodb:GetItem", "IdempotencyTable.Arn"),  # only when a condition failure returns no item
            ("dynamodb:DeleteItem", "IdempotencyTable.Arn"),  # only when processing raises
            ("dynamodb:UpdateItem", "IdempotencyTable.Arn"),  # (moto) completion is an update
        }
    )
    assert unused_webhook == set(), unused_webhook


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
def test_the_read_policy_covers_every_call_of_the_read_library(backend, resources, request):
    """(The policy also allows the other key and partition reads an application may make itself.)"""
    stack = make_stack(backend, request.node.name)
    for event in (
        envelope("user.created", user("user_r", T0), T0),
        envelope("organization.created", organization("org_r", T0)),
        envelope("organizationMembership.created", membership("org_r", "user_r", T0)),
        envelope("session.created", session("sess_r", "user_r", T0)),
        envelope("organizationInvitation.created", invitation("orginv_r", "org_r", T0)),
        envelope("role.created", role("role_r", T0, key="org:r", permissions=("org:docs:read",))),
        envelope("permission.created", permission("perm_r", T0, key="org:docs:read")),
        envelope("organizationDomain.created", domain("orgdmn_r", "org_r", T0, name="r.example")),
        envelope("waitlistEntry.created", waitlist_entry("wle_r", T0)),
        envelope("subscriptionItem.active", subscription_item("csubi_r", "user_r"), T0),
    ):
        assert stack.deliver(signed(event))[0] == 200
    calls = Recorder(stack.tables, stack.queue_url)
    session_ = boto3.session.Session(region_name=REGION)
    session_.events.register("provide-client-params.dynamodb", calls.hook()[1])
    read = ClerkData(
        tables={table: stack.tables[spec.template_id] for table, spec in TABLES.items()},
        endpoint_url=stack.endpoints.dynamodb,
        session=session_,
    )
    assert read.user("user_r") and read.user_by_email("ann@example.com") and read.organization("org_r")
    assert read.organization_by_slug("acme") and list(read.members("org_r"))
    assert list(read.organizations_of("user_r")) and list(read.sessions_of("user_r", active=False))
    assert list(read.invitations_of("org_r")) and list(read.invitations_for("orginv_r@example.com"))
    assert read.role("role_r") and read.role_by_key("org:r")
    assert read.permission("perm_r") and read.permission_by_key("org:docs:read")
    assert list(read.domains_of("org_r")) and read.domains_named("r.example")
    assert read.waitlist_entry("wle_r@example.com")
    assert list(read.subscription_items_of("user_r")) and read.entitlements("user_r").has("sso")
    assert calls.needed - policy_grants(resources, "ClerkDataReadPolicy") == set()
    assert {index for _, index in calls.needed if "/index/" in index} == {
        f"{table}.Arn/index/{index}"
        for table, index in [
            ("UsersTable", "email-index"),
            ("OrganizationsTable", "slug-index"),
            ("MembershipsTable", "user-index"),
            ("SessionsTable", "user-index"),
            ("InvitationsTable", "organization-index"),
            ("InvitationsTable", "email-index"),
            ("RolesTable", "key-index"),
            ("PermissionsTable", "key-index"),
            ("DomainsTable", "organization-index"),
            ("DomainsTable", "name-index"),
            ("WaitlistTable", "email-index"),
            ("SubscriptionItemsTable", "user-index"),
        ]
    }


@pytest.mark.parametrize("backend", ["moto"], indirect=True)
@pytest.mark.filterwarnings("ignore::DeprecationWarning:clerk_backend_api.*")
def test_the_reconcile_grants_are_exactly_the_calls_a_reconcile_makes(backend, resources, request):
    stack = make_stack(backend, request.node.name)
    calls = Recorder(stack.tables, stack.queue_url)
    with FakeClerkApi() as api:
        populate_every_kind(api.data)
        settings = BackfillSettings(
            secret_key=SECRET_KEY,
            tables=read_tables(function_environment(stack.tables, stack.queue_url)),
            api_url=api.url,
            endpoints=Endpoints(dynamodb=stack.endpoints.dynamodb, region=stack.endpoints.region),
            retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02),
        )
        backfill = build_backfill(settings, hooks=[calls.hook()])
        assert backfill.run(BackfillOptions()).complete  # every kind created
        del api.data.roles["role_0"], api.data.plans["cplan_team"]
        del api.data.domains["orgdm_0"], api.data.waitlist["wle_0"]  # confirmed by filtered lists
        summary = backfill.run(BackfillOptions(reconcile=True))
        api.fail(500, times=20, path="/v1/organization_memberships")  # a run stopped, then resumed
        assert backfill.run(BackfillOptions(reconcile=True)).failure is not None
        api.heal()
        assert backfill.journal is not None
        unfinished = backfill.journal.last_unfinished()
        assert unfinished is not None
        record = backfill.journal.claim(unfinished.run_id)
        assert record is not None and backfill.resume(record).complete

    assert summary.complete and summary.failure is None
    assert summary.kinds[Table.ROLES].tombstoned == [("role_0",)]
    assert summary.kinds[Table.DOMAINS].tombstoned == [("orgdm_0",)]
    assert summary.kinds[Table.WAITLIST].tombstoned == [("wle_0",)]
    granted = grants(resources, "ReconcileFunctionRole")
    assert calls.needed - granted == set()
    unused = {g for g in granted - calls.needed if g[0].startswith("dynamodb:")}
    assert unused == set(), unused
