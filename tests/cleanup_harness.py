"""Clean-ups of any size through the real queue: seeded data, the SideEffectsFunction's handler in a
process of its own per container (killed when an invocation overruns its timeout), driven by the
template's event source mapping, and what the runs report.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clerk_sync.settings import CleanupBudget
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.process_function import ProcessFunction
from clerk_sync_local.stack.queue_worker import QueueWorker, event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from queue_loop import drain, patience_of
from stacks import Stack

T = 1_732_000_000_000
FUNCTION = "SideEffectsFunction"
WRITERS = 4  # threads seeding the tables
TESTS_DIR = Path(__file__).parent
MIN_MARGIN_SECONDS = 1.0


def template_timeout() -> float:
    """The SideEffectsFunction's Timeout in template.yaml."""
    return function_specs(load_template(TEMPLATE_PATH), TEMPLATE_PATH.parent)[FUNCTION].timeout


def _put_all(stack: Stack, logical_id: str, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25, from a few threads (unprocessed items are sent again)."""
    table = stack.tables[logical_id]

    def write(chunk: list[dict[str, Any]]) -> None:
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in chunk]
        while requests:
            answer = stack.dynamodb.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, [items[n : n + 25] for n in range(0, len(items), 25)]))


def _membership(organization_id: str, user_id: str) -> dict[str, Any]:
    return {
        "organization_id": {"S": organization_id},
        "user_id": {"S": user_id},
        "id": {"S": f"orgmem_{organization_id}_{user_id}"},
        "role": {"S": "org:member"},
        "public_metadata": {"M": {"team": {"S": "blue"}}},
        "version": {"N": str(T)},
        "svix_id": {"S": "msg_seed"},
    }


def seed_organization(stack: Stack, organization_id: str, members: int) -> None:
    """An organization's live memberships."""
    items = [_membership(organization_id, f"user_{organization_id}_{n:06d}") for n in range(members)]
    _put_all(stack, "MembershipsTable", items)


def seed_user(stack: Stack, user_id: str, memberships: int, sessions: int) -> None:
    """A user's live memberships (of organizations of their own) and sessions."""
    _put_all(
        stack,
        "MembershipsTable",
        [_membership(f"org_{user_id}_{n:05d}", user_id) for n in range(memberships)],
    )
    session_items = [
        {
            "id": {"S": f"sess_{user_id}_{n:05d}"},
            "user_id": {"S": user_id},
            "client_id": {"S": "client_1"},
            "status": {"S": "active"},
            "version": {"N": str(T)},
            "svix_id": {"S": "msg_seed"},
        }
        for n in range(sessions)
    ]
    _put_all(stack, "SessionsTable", session_items)


def cleanup_body(kind: str, target: str, svix_id: str) -> str:
    """A clean-up message as the receiver queues it."""
    field_name = "user_id" if kind == "user_cleanup" else "organization_id"
    return json.dumps({"kind": kind, "svix_id": svix_id, field_name: target, "deleted_at": T + 10})


def welcome_body(n: int) -> str:
    """A welcome e-mail message (the worker has no sender here: a quick, counted skip)."""
    return json.dumps(
        {
            "kind": "welcome_email",
            "svix_id": f"msg_w{n}",
            "user_id": f"user_w{n}",
            "email": f"w{n}@example.com",
        }
    )


@dataclass
class Recorded:
    """One invocation: the records it was handed and what it answered."""

    message_ids: list[str]
    bodies: list[dict[str, Any]]
    invocation: Invocation


@dataclass
class Recorder:
    """An Invoker in front of the process container, keeping every invocation."""

    function: ProcessFunction
    invocations: list[Recorded] = field(default_factory=list)

    @property
    def logical_id(self) -> str:
        return self.function.logical_id

    def invoke(self, event: dict[str, Any]) -> Invocation:
        invocation = self.function.invoke(event)
        records = event["Records"]
        self.invocations.append(
            Recorded([r["messageId"] for r in records], [json.loads(r["body"]) for r in records], invocation)
        )
        return invocation

    def received(self) -> Counter[str]:
        """How often each message id was handed to the function."""
        return Counter(m for recorded in self.invocations for m in recorded.message_ids)


@dataclass
class Run:
    """The worker loop over the stack's queue, with its process container and its log."""

    stack: Stack
    recorder: Recorder
    loop: QueueWorker
    log_path: Path
    dead_letter_url: str
    timeout: float

    def send(self, bodies: Sequence[str]) -> list[str]:
        """Queue messages at once (one batch), their message ids in order."""
        sent = self.stack.sqs.send_message_batch(
            QueueUrl=self.stack.queue_url,
            Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)],
        )
        assert len(sent["Successful"]) == len(bodies)
        return [e["MessageId"] for e in sorted(sent["Successful"], key=lambda e: int(e["Id"]))]

    def drain(self, max_batches: int | None = None, hand_backs: bool = False) -> float:
        """Poll until nothing is visible, in flight or delayed, however long a loaded machine takes
        while the queue keeps moving (`queue_loop.drain`); the seconds it took. `max_batches`: the
        most batches the work can take (`queue_loop.cleanup_parts`); `hand_backs`: throttled e-mails
        may be handed back (the queue may be quiet longer)."""
        try:
            patience = patience_of(self.stack, hand_backs)
            return drain(self.stack, lambda: self.loop.poll(wait_seconds=1), patience, max_batches)
        finally:
            self.recorder.function.stop()

    def dead_letters(self) -> int:
        attributes = self.stack.sqs.get_queue_attributes(
            QueueUrl=self.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def parts(self) -> list[dict[str, Any]]:
        """The `cleanup part` log lines of every container, in order."""
        return [line for line in self.logs() if line.get("message") == "cleanup part"]

    def logs(self) -> Iterator[dict[str, Any]]:
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                yield json.loads(line)


def start(
    stack: Stack,
    backend: Any,
    log_dir: Path,
    timeout: float,
    slice_seconds: float | None = None,
    extra_env: dict[str, str] | None = None,
    preload: Sequence[str] = (),
) -> Run:
    """The template's SideEffectsFunction (handler, environment, event source mapping) over the
    stack's queue, in a process container with `timeout`. The clean-up budget is the deployed one
    scaled to that timeout (the margin at least MIN_MARGIN_SECONDS), unless `slice_seconds` is given."""
    template = load_template(TEMPLATE_PATH)
    spec = function_specs(template, TEMPLATE_PATH.parent)[FUNCTION]
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])
    dead_letter_arn = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    dead_letter_url = stack.sqs.get_queue_url(QueueName=dead_letter_arn.rsplit(":", 1)[-1])["QueueUrl"]
    refs = {
        **stack.tables,
        "SideEffectsQueue": stack.queue_url,
        "SideEffectsDeadLetterQueue": dead_letter_url,
    }
    scale, budget = timeout / spec.timeout, CleanupBudget()
    environ = {
        **os.environ,
        **LocalResources(template, {"POWERTOOLS_LOG_LEVEL": "INFO"}, refs).environment(spec),
        "CLEANUP_SLICE_SECONDS": str(slice_seconds or budget.slice_seconds * scale),
        # at least 1 s: on a busy 2-core machine a request to the local engines can stall that long
        "CLEANUP_MARGIN_SECONDS": str(max(budget.margin_seconds * scale, MIN_MARGIN_SECONDS)),
        "AWS_ENDPOINT_URL_DYNAMODB": backend.dynamodb_endpoint,
        "AWS_ENDPOINT_URL_SQS": backend.sqs_endpoint,
        "AWS_ENDPOINT_URL_SESV2": backend.sqs_endpoint,
        "AWS_DEFAULT_REGION": backend.region,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path]),
        **(extra_env or {}),
    }
    log_path = log_dir / f"{FUNCTION}.log"
    function = ProcessFunction(FUNCTION, spec.handler, environ, timeout, log_path, preload)
    # a failed batch comes back once its in-progress idempotency records (the timeout) have expired
    stack.sqs.set_queue_attributes(
        QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": str(math.ceil(timeout) + 1)}
    )
    [mapping] = event_source_mappings(spec, LocalResources(template, {}, refs))
    recorder = Recorder(function)
    loop = QueueWorker(stack.sqs, stack.queue_url, mapping, recorder, backend.region)
    return Run(stack, recorder, loop, log_path, dead_letter_url, timeout)


def tombstoned_only(items: list[dict[str, Any]], keys: set[str]) -> bool:
    """Every item is a tombstone: its keys and the deletion marks, nothing else."""
    marks = {"deleted", "deleted_at", "version", "svix_id"}
    return all(item.get("deleted") is True and set(item) == keys | marks for item in items)
