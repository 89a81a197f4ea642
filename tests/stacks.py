"""Receivers wired to freshly provisioned resources, with every AWS call counted by botocore hooks."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from builders import SECRET, answer
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.adapters.dynamodb.models import Models, bind_models
from clerk_sync.adapters.http import HttpEdge
from clerk_sync.app.effects_worker import Worker
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.bootstrap.worker import build_worker
from clerk_sync.domain.tables import TABLES
from clerk_sync.settings import load_config, load_worker_config
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.provision import TABLE_ENV_VARS, Provisioned

SYNCED = tuple(spec.template_id for spec in TABLES.values())
_deserialize = TypeDeserializer().deserialize


def environment(tables: dict[str, str], queue_url: str, secret: str = SECRET) -> dict[str, str]:
    """The function environment for a provisioned set of resources."""
    return {
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
        **{variable: tables[logical_id] for logical_id, variable in TABLE_ENV_VARS.items()},
        "SIDE_EFFECTS_QUEUE_URL": queue_url,
    }


@dataclass
class Stack:
    """A receiver wired to its own tables and queue."""

    receiver: HttpEdge
    models: Models
    tables: dict[str, str]
    queue_url: str
    dynamodb: Any
    sqs: Any
    endpoints: Endpoints
    calls: Counter[str] = field(default_factory=Counter)
    provisioned: Provisioned | None = None

    def another_receiver(self, secret: str = SECRET, hooks: Any = ()) -> HttpEdge:
        """A second container of the same function (its own clients and caches)."""
        return build_receiver(
            load_config(environment(self.tables, self.queue_url, secret)), self.endpoints, hooks=hooks
        )

    def deliver(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Call the handler flow with a Lambda event."""
        return answer(self.receiver.handle(event, LocalContext("WebhookFunction")))

    def items(self, logical_id: str) -> list[dict[str, Any]]:
        """Every item of a table, as plain Python values."""
        out: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.tables[logical_id]):
            out.extend({k: _deserialize(v) for k, v in item.items()} for item in page["Items"])
        return out

    def queued(self) -> list[dict[str, Any]]:
        """Receive (and delete) every message on the side-effects queue."""
        bodies: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def nothing_written(self) -> bool:
        """No item in any table (idempotency included) and no queued message."""
        tables_empty = all(not self.items(t) for t in (*SYNCED, "IdempotencyTable"))
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        in_queue = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )
        return tables_empty and in_queue == 0


def make_stack(backend: Any, name: str, feed: bool = False) -> Stack:
    """Provision fresh resources on the backend (with `feed`, the change feed's too) and build a receiver
    over them."""
    provisioned = backend.fresh(name, feed=feed)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    config = load_config(environment(provisioned.tables, provisioned.queue_url))
    endpoints = Endpoints(dynamodb=backend.dynamodb_endpoint, sqs=backend.sqs_endpoint, region=backend.region)
    receiver = build_receiver(config, endpoints, hooks=[("before-call", count)])
    return Stack(
        receiver=receiver,
        models=bind_models(config.tables, region=backend.region, host=backend.dynamodb_endpoint),
        tables=dict(provisioned.tables),
        queue_url=provisioned.queue_url,
        dynamodb=boto3.client("dynamodb", endpoint_url=backend.dynamodb_endpoint, region_name=backend.region),
        sqs=boto3.client("sqs", endpoint_url=backend.sqs_endpoint, region_name=backend.region),
        endpoints=endpoints,
        calls=calls,
        provisioned=provisioned,
    )


def captured_emails(moto_endpoint: str) -> list[dict[str, Any]]:
    """Every e-mail the moto server captured (read over HTTP from its data API)."""
    with urllib.request.urlopen(f"{moto_endpoint}/moto-api/data.json", timeout=60) as response:
        data = json.load(response)
    return list(data.get("ses", {}).get("Message", []))


def captured_emails_in_process(region: str) -> list[dict[str, Any]]:
    """The same e-mails, read from the moto server running in this process (tests' MotoEngine).

    At chaos scale the data API takes many minutes (it serializes every DynamoDB item and SQS
    message moto ever created); the SES backend's own list is the same record, read directly.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [
        {"destinations": message.destinations}
        for message in ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
        if hasattr(message, "destinations")
    ]


def sends_per_recipient(moto_endpoint: str) -> Counter[str]:
    """How many e-mails moto captured for each recipient (one read of its data API)."""
    return Counter(
        to for m in captured_emails(moto_endpoint) for to in m["destinations"].get("ToAddresses", [])
    )


def sent_emails(moto_endpoint: str, to: str) -> list[dict[str, Any]]:
    """E-mails the moto server captured for one recipient."""
    return [m for m in captured_emails(moto_endpoint) if to in m["destinations"].get("ToAddresses", [])]


def captured_sms(moto_endpoint: str) -> list[dict[str, Any]]:
    """Every text message the moto server's SNS captured (`phone_number`, `message`, `message_id`)."""
    with urllib.request.urlopen(f"{moto_endpoint}/moto-api/data.json", timeout=60) as response:
        data = json.load(response)
    return list(data.get("sns", {}).get("SMS", []))


def captured_sms_in_process(region: str) -> list[dict[str, Any]]:
    """The same text messages, read from the moto server running in this process (as
    `captured_emails_in_process`, for runs whose data API would be slow)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return [
        {"phone_number": phone_number, "message": message}
        for phone_number, message in sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages.values()
    ]


def sent_sms(moto_endpoint: str, to: str) -> list[dict[str, Any]]:
    """Text messages the moto server captured for one phone number."""
    return [m for m in captured_sms(moto_endpoint) if m.get("phone_number") == to]


def make_worker(
    stack: Stack,
    sender: str | None = "welcome@example.com",
    hooks: Any = (),
    ses_endpoint: str | None = None,
    send_rate: str = "500",
    concurrency: int = 1,
    sms: bool = True,
    sns_endpoint: str | None = None,
    environ: dict[str, str] | None = None,
) -> Worker:
    """A SideEffectsFunction container over the stack's tables, sending through moto's SES (directly,
    or through `ses_endpoint`: a fault proxy in front of it) and, with `sms`, moto's SNS (or
    `sns_endpoint`). `send_rate` is SES_MAX_SEND_RATE ("" or "0": asked from SES with GetAccount,
    which moto does not answer but the fault proxy does); `environ`: more of the function's variables."""
    if sender:
        ses = boto3.client("sesv2", endpoint_url=stack.endpoints.sqs, region_name=stack.endpoints.region)
        ses.create_email_identity(EmailIdentity=sender)
    env = {
        **environment(stack.tables, stack.queue_url),
        "SENDER_EMAIL": sender or "",
        "SES_MAX_SEND_RATE": send_rate,
        "WORKER_MAX_CONCURRENCY": str(concurrency),
        "SMS_ENABLED": "true" if sms else "false",
        **(environ or {}),
    }
    endpoints = Endpoints(
        dynamodb=stack.endpoints.dynamodb,
        sqs=stack.endpoints.sqs,
        ses=ses_endpoint or stack.endpoints.sqs,
        sns=sns_endpoint or stack.endpoints.sqs,
        region=stack.endpoints.region,
    )
    return build_worker(load_worker_config(env), endpoints, hooks=hooks)


def sqs_event(bodies: list[str], receive_count: int = 1) -> dict[str, Any]:
    """A Lambda SQS event with one record per body."""
    return {
        "Records": [
            {
                "messageId": f"m-{index}-{uuid.uuid4().hex[:8]}",
                "receiptHandle": f"rh-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1732000000000",
                    "SenderId": "AIDA",
                    "ApproximateFirstReceiveTimestamp": "1732000000000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:clerk-sync-side-effects",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def changes_function_environment(backend: Any, feed: Provisioned, bus: str | None = None) -> dict[str, str]:
    """ChangesFunction's environment as the template gives it over `feed` (its bus replaced by `bus`), for
    a function run in a process of its own: its code on the path, moto as its EventBridge."""
    root = Path(__file__).resolve().parents[1]
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(root / folder) for folder in ("functions", "infra")),
        "AWS_REGION": backend.region,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": backend.sqs_endpoint,  # moto: EventBridge
        "POWERTOOLS_SERVICE_NAME": "clerk-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "ClerkSync",
        "CHANGE_DETAIL": "full",
        **feed.environment(),  # the tables' names and CHANGES_BUS_NAME
    }
    return {**environ, "CHANGES_BUS_NAME": bus} if bus is not None else environ
