"""React to new organization members from the clerk-sync change feed, each change exactly once.

An EventBridge rule on the clerk-sync stack's change bus (template.yaml) invokes `handler` with every
`organizationMembership.created` event; with an SQS queue between the rule and the function, it takes
the queue's batches as well. Every consumer of the feed follows the same four steps:

1. `parse(event)`: a typed `Change` whose `new` is the `Membership` record `ClerkData` would return
   (NotAChangeError: not a change event; logged and dropped, as it will never become one).
2. De-duplicate by `change.id`: the feed publishes at least once (a retried batch, an archive replay),
   and the same change always carries the same id. A conditional put in this function's own table
   claims the id; an id claimed before is a duplicate. Claims expire (TTL) after `KEEP_SECONDS`.
3. Order by `change.version`: EventBridge does not keep order. The highest version handled per key is
   kept in the same table, updated in the same transaction as the claim: a change older than it is
   ignored (a membership re-created after a deletion has a newer version, and is handled).
4. Do the work (`notify`). Should it fail, the claim is released and the error raised, so that the
   retry (Lambda's, or the queue's) does it; should the function die mid-work, the claim's lease runs
   out and the retry takes it over. The work runs at least once per change, and only once unless the
   function dies between the work and its record.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError
from clerk_sync.read import Change, Membership, NotAChangeError, parse

TABLE_ENV = "HANDLED_CHANGES_TABLE"
KEEP_DAYS_ENV = "KEEP_HANDLED_DAYS"
KEEP_SECONDS = int(os.environ.get(KEEP_DAYS_ENV) or 35) * 24 * 3600
"""How long a handled id is remembered (template.yaml's KeepHandledDays): beyond EventBridge's retries
(24 h), and at least as long as the clerk-sync bus's archive keeps events (its stack's
ChangeArchiveRetentionDays, 30 by default), so that a replay from it is recognized too."""
LEASE_SECONDS = 30
"""How long a claim is held while its work runs (above the function's timeout)."""
HANDLED, IN_PROGRESS = "handled", "in_progress"

log = logging.getLogger("on_change")
log.setLevel(logging.INFO)
# Made once per container, at init; the endpoint and region as boto3 finds them.
dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """One event from the rule (its outcome), or an SQS batch (the records to retry)."""
    if "Records" in event:
        failed = []
        for record in event["Records"]:
            try:
                handle(record)
            except Exception:
                log.exception("change not handled: the queue sends it again")
                failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}
    return {"outcome": handle(event)}


def handle(event: Any) -> str:
    """Parse, de-duplicate, order, work: `handled`, `duplicate`, `stale` or `not a change`."""
    try:
        change = parse(event)
    except NotAChangeError as error:
        log.warning(json.dumps({"outcome": "not a change", "error": str(error)}))
        return "not a change"
    claimed, refused = claim(change)
    if claimed is None:
        log.info(json.dumps({"outcome": refused, "change": change.id, "version": change.version}))
        return refused
    try:
        notify(change)
    except Exception:
        release(change, claimed)
        raise
    finish(change, claimed)
    return "handled"


def notify(change: Change) -> None:
    """The work: here, one log line an alerting rule (or a human) reads. Replace it with yours."""
    member = change.new if isinstance(change.new, Membership) else None  # None: ChangeDetail "keys"
    log.info(
        json.dumps(
            {
                "notify": "member joined",
                "organization_id": change.key["organization_id"],
                "user_id": change.key["user_id"],
                "role": member.role if member else None,
                "change": change.id,
                "version": change.version,
            }
        )
    )


def now_seconds() -> int:
    """The clock the claims' leases and expiry are read on."""
    return int(time.time())


def _table() -> str:
    return os.environ[TABLE_ENV]


def _latest_key(change: Change) -> str:
    """The item keeping the highest version handled of the change's record."""
    return f"latest#{change.table.value}#{json.dumps(dict(change.key), sort_keys=True)}"


def claim(change: Change) -> tuple[str | None, str]:
    """Claim the change's id and record its version as the key's latest, in one transaction: the claim's
    token, or None and why not: `duplicate` (the id is claimed or handled already) or `stale` (a newer
    version of the record was handled). A transaction that conflicted with another raises (retried)."""
    now = now_seconds()
    token = uuid.uuid4().hex
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": {
                            "pk": {"S": f"change#{change.id}"},
                            "status": {"S": IN_PROGRESS},
                            "token": {"S": token},
                            "lease_until": {"N": str(now + LEASE_SECONDS)},
                            "expires_at": {"N": str(now + KEEP_SECONDS)},
                        },
                        # new, or an earlier attempt's claim whose lease ran out (it died mid-work)
                        "ConditionExpression": "attribute_not_exists(pk) OR "
                        "(#status = :in_progress AND lease_until < :now)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {
                            ":in_progress": {"S": IN_PROGRESS},
                            ":now": {"N": str(now)},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": _table(),
                        "Key": {"pk": {"S": _latest_key(change)}},
                        "UpdateExpression": "SET version = :version",
                        # the same version again passes: a retry of this change, or its other state
                        "ConditionExpression": "attribute_not_exists(version) OR version <= :version",
                        "ExpressionAttributeValues": {":version": {"N": str(change.version)}},
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            return None, "duplicate"
        if reasons[1:2] == ["ConditionalCheckFailed"]:
            return None, "stale"
        raise  # a conflict with a concurrent transaction: retried
    return token, "claimed"


def finish(change: Change, token: str) -> None:
    """Record the claimed change as handled."""
    dynamodb.update_item(
        TableName=_table(),
        Key={"pk": {"S": f"change#{change.id}"}},
        UpdateExpression="SET #status = :handled REMOVE lease_until",
        ConditionExpression="#token = :token",
        ExpressionAttributeNames={"#status": "status", "#token": "token"},
        ExpressionAttributeValues={":handled": {"S": HANDLED}, ":token": {"S": token}},
    )


def release(change: Change, token: str) -> None:
    """Give the claim up after the work failed, so that the retry does it (the version stays: the
    retry is of the same version, which the ordering lets through)."""
    try:
        dynamodb.delete_item(
            TableName=_table(),
            Key={"pk": {"S": f"change#{change.id}"}},
            ConditionExpression="#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": {"S": token}},
        )
    except ClientError:
        log.exception("claim not released: its lease runs out instead")
