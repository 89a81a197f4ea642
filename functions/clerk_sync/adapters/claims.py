"""Claims in the idempotency table: what makes a send through a service that takes no idempotency
token (SES e-mails, SNS text messages) happen at most once per effect key, with every unknown outcome
recorded.

A send is guarded by a *claim* (`claim#<effect key>`), written before the service is called:

- the service answered with an error (a refusal, throttling) or the connection never opened: the
  message was not sent, the claim is released and the effect message is retried;
- the service accepted it: the claim is confirmed (`state: sent`) and its copy of the message removed;
- anything else (a read timeout, a dropped connection, the process dying): the claim stays
  *unconfirmed*. Unconfirmed claims carry the effect's key, kind, target, svix id, time and message,
  and are listed by the sparse `unconfirmed-index`, partitioned by channel (`email`, `sms`), to be
  checked and, when nothing arrived, resent (`clerk-sync emails|sms unconfirmed`, `… resend`;
  docs/runbook.md).

Senders (adapters/ses.py, adapters/sns.py) make a single attempt per call: a retried request whose
first answer was lost is a second message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as NeverConnectedError

from clerk_sync.domain.effects import Channel, EffectMessage
from clerk_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CLAIM_TTL_SECONDS = 30 * 24 * 3600
CLAIM_PREFIX = "claim#"
UNCONFIRMED_INDEX = "unconfirmed-index"
NOUNS: Mapping[Channel, str] = {Channel.EMAIL: "e-mail", Channel.SMS: "SMS"}  # for log lines

SendOutcome = Literal["sent", "claimed_before", "unknown"]
Attempt = Literal["sent", "unknown", "throttled"]


class SendRefused(Exception):
    """The service did not send the message (it answered with an error, or no connection was made);
    the claim was released, so a retry of the effect message sends it."""


@dataclass(frozen=True)
class UnconfirmedSend:
    """A claimed message whose outcome is unknown: it may or may not have been sent."""

    key: str
    kind: str
    target: str
    svix_id: str
    claimed_at: int  # epoch seconds
    message: str  # the effect message as queued (what a resend sends again)


def _unconfirmed(item: Mapping[str, Any]) -> UnconfirmedSend:
    return UnconfirmedSend(
        key=item["id"]["S"].removeprefix(CLAIM_PREFIX),
        kind=item["kind"]["S"],
        target=item["target"]["S"],
        svix_id=item["svix_id"]["S"],
        claimed_at=int(item["claimed_at"]["N"]),
        message=item["message"]["S"],
    )


def error_code(error: ClientError) -> str:
    """The service's error code ("" when it gave none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


class Claims:
    """The claims of one channel in the idempotency table."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        channel: Channel,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self.channel = channel
        self._clock = clock

    def take(self, message: EffectMessage, raw: str) -> bool:
        """Claim the effect (False: it was claimed before). `raw`, the queued message, is kept on the
        claim until it is confirmed, for a resend."""
        now = int(self._clock())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": CLAIM_PREFIX + message.key},
                    "unconfirmed": {"S": self.channel.value},
                    "claimed_at": {"N": str(now)},
                    "kind": {"S": message.kind},
                    "target": {"S": message.target},
                    "svix_id": {"S": message.svix_id},
                    "message": {"S": raw},
                    "expiration": {"N": str(now + CLAIM_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def earlier_outcome(self, key: str) -> SendOutcome:
        """What became of an effect claimed before: confirmed (`claimed_before`) or `unknown`."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}}, ConsistentRead=True
        ).get("Item", {})
        return "unknown" if "unconfirmed" in item else "claimed_before"

    def attempt(
        self,
        message: EffectMessage,
        send: Callable[[], object],
        service: str,
        throttled: Callable[[ClientError], bool] = lambda error: False,
    ) -> Attempt:
        """Call `send` once under the claim already taken, and settle the claim by its outcome.

        `sent`: confirmed. `unknown`: the answer was lost, the claim stays unconfirmed. `throttled`:
        the service refused for its rate (per `throttled`), the claim is still held, for the caller
        to try again or release. Raises SendRefused (claim released) on any other refusal.
        """
        try:
            send()
        except ClientError as error:
            if throttled(error):
                return "throttled"
            self.release(message.key)
            raise SendRefused(f"{service} refused: {error_code(error) or 'error'}") from error
        except NeverConnectedError as error:
            self.release(message.key)
            raise SendRefused(f"{service} unreachable") from error
        except Exception as error:  # the answer was lost: the service may have sent it
            logger.warning(
                f"{NOUNS[self.channel]} outcome unknown; claim kept as unconfirmed",
                extra={"key": message.key, "kind": message.kind, "error": type(error).__name__},
            )
            return "unknown"
        self.confirm(message.key)
        return "sent"

    def confirm(self, key: str) -> None:
        """The service accepted the message: the claim stays (never twice) without its copy."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": CLAIM_PREFIX + key}},
                UpdateExpression="SET #state = :sent, sent_at = :now REMOVE unconfirmed, message",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": str(int(self._clock()))}},
            )
        except Exception as error:  # the message is out: a claim left unconfirmed is a false alarm only
            logger.warning(
                "sent, but the claim could not be confirmed",
                extra={"key": key, "error": type(error).__name__},
            )

    def release(self, key: str) -> None:
        """Drop the claim: the message was certainly not sent."""
        self._dynamodb.delete_item(TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}})

    def unconfirmed(self, older_than_seconds: int = 0) -> Iterator[UnconfirmedSend]:
        """Every unconfirmed claim of this channel claimed at least `older_than_seconds` ago, oldest first."""
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=UNCONFIRMED_INDEX,
            KeyConditionExpression="unconfirmed = :u AND claimed_at <= :t",
            ExpressionAttributeValues={
                ":u": {"S": self.channel.value},
                ":t": {"N": str(int(self._clock()) - older_than_seconds)},
            },
        )
        for page in pages:
            yield from (_unconfirmed(item) for item in page.get("Items", []))

    def unconfirmed_claim(self, key: str) -> UnconfirmedSend | None:
        """One unconfirmed claim of this channel by its effect key (None when there is none, or it
        was confirmed)."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}}, ConsistentRead=True
        ).get("Item", {})
        return _unconfirmed(item) if item.get("unconfirmed", {}).get("S") == self.channel.value else None

    def release_unconfirmed(self, claim: UnconfirmedSend) -> bool:
        """Drop an unconfirmed claim so that the message can be sent again (False: it changed meanwhile)."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"id": {"S": CLAIM_PREFIX + claim.key}},
                ConditionExpression="unconfirmed = :u AND claimed_at = :t",
                ExpressionAttributeValues={
                    ":u": {"S": self.channel.value},
                    ":t": {"N": str(claim.claimed_at)},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True
