"""Sending e-mail through SES v2 at most once per effect key, with every unknown outcome recorded.

SES takes no idempotency token, so an answer lost after SES accepted a message leaves it unknown
whether the e-mail went out: exactly once is impossible, never twice is not. Each send is guarded by
a *claim* in the idempotency table (`claim#<effect key>`), written before SES is called:

- SES answered with an error (a refusal, throttling) or the connection never opened: the e-mail was
  not sent, the claim is released and the message is retried;
- SES accepted it: the claim is confirmed (`state: sent`) and its copy of the message removed;
- anything else (a read timeout, a dropped connection, the process dying): the claim stays
  *unconfirmed*. Unconfirmed claims carry the effect's key, kind, target, svix id, time and message,
  and are listed by the sparse `unconfirmed-index` (`clerk-sync emails unconfirmed`), to be checked
  and, when the e-mail did not arrive, resent (`clerk-sync emails resend`; docs/runbook.md).

The SES client makes a single attempt per call (no botocore retries: a retried SendEmail whose first
answer was lost is a second e-mail), and sends are paced to this container's share of the account's
sending rate (`pacing.Pacer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as NeverConnectedError

from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import EffectMessage
from clerk_sync.domain.mail import Email
from clerk_sync.domain.pacing import SANDBOX_RATE, Pacer, share_of
from clerk_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sesv2 import SESV2Client

CLAIM_TTL_SECONDS = 30 * 24 * 3600
CLAIM_PREFIX = "claim#"
UNCONFIRMED = "email"  # the value of the sparse index's key while a claim's outcome is unknown
UNCONFIRMED_INDEX = "unconfirmed-index"
THROTTLE_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
THROTTLED_ATTEMPTS = 3  # sends of one e-mail in one invocation while SES answers "too many requests"

SendOutcome = Literal["sent", "claimed_before", "unknown"]


class SendRefused(Exception):
    """SES did not send the e-mail (it answered with an error, or no connection was made); the claim
    was released, so a retry of the message sends it."""


class SendThrottled(SendRefused):
    """SES refused for the sending rate (or this invocation had no time left to wait for its turn)."""


@dataclass(frozen=True)
class UnconfirmedEmail:
    """A claimed e-mail whose outcome is unknown: it may or may not have been sent."""

    key: str
    kind: str
    target: str
    svix_id: str
    claimed_at: int  # epoch seconds
    message: str  # the effect message as queued (what a resend sends again)


def _unconfirmed(item: Mapping[str, Any]) -> UnconfirmedEmail:
    return UnconfirmedEmail(
        key=item["id"]["S"].removeprefix(CLAIM_PREFIX),
        kind=item["kind"]["S"],
        target=item["target"]["S"],
        svix_id=item["svix_id"]["S"],
        claimed_at=int(item["claimed_at"]["N"]),
        message=item["message"]["S"],
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _throttled(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(error) in THROTTLE_CODES or status == 429


class Mailer:
    """SES v2 sender guarded by claims in the idempotency table."""

    def __init__(
        self,
        ses: SESV2Client,
        dynamodb: DynamoDBClient,
        claims_table: str,
        sender: str,
        *,
        max_send_rate: float | None = None,
        max_concurrency: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`max_send_rate`: the account's SES rate (None: asked from SES with GetAccount at the first
        send); `max_concurrency`: how many containers share it."""
        self._ses = ses
        self._dynamodb = dynamodb
        self._table = claims_table
        self.sender = sender
        self._max_send_rate = max_send_rate
        self._max_concurrency = max_concurrency
        self._clock = clock
        self._pacer: Pacer | None = None

    def send_once(self, message: EffectMessage, raw: str, email: Email, deadline: Deadline) -> SendOutcome:
        """Send unless this effect was claimed before.

        `raw` is the queued message (kept on the claim for a resend); `deadline` is when this
        invocation must stop waiting for its turn. Raises SendRefused / SendThrottled when
        SES certainly did not send (claim released).
        """
        if not self._claim(message, raw):
            return "claimed_before" if self._confirmed(message.key) else "unknown"
        pacer = self.pacer()
        reason = "no time left in this invocation to send at the SES pace"
        for _attempt in range(THROTTLED_ATTEMPTS):
            if deadline.reached_by(pacer.delay()):
                break
            pacer.wait()
            try:
                self._send(email)
            except ClientError as error:
                if _throttled(error):
                    pacer.throttled()
                    reason = "SES sending rate exceeded"
                    continue
                self._release(message.key)
                raise SendRefused(f"SES refused: {_code(error) or 'error'}") from error
            except NeverConnectedError as error:
                self._release(message.key)
                raise SendRefused("SES unreachable") from error
            except Exception as error:  # the answer was lost: SES may have sent it
                logger.warning(
                    "e-mail outcome unknown; claim kept as unconfirmed",
                    extra={"key": message.key, "kind": message.kind, "error": type(error).__name__},
                )
                return "unknown"
            pacer.succeeded()
            self._confirm(message.key)
            return "sent"
        self._release(message.key)
        raise SendThrottled(reason)

    def pacer(self) -> Pacer:
        """This container's pace, from the account's quota (asked once, at the first send)."""
        if self._pacer is None:
            self._pacer = Pacer(share_of(self._account_rate(), self._max_concurrency))
        return self._pacer

    def unconfirmed(self, older_than_seconds: int = 0) -> Iterator[UnconfirmedEmail]:
        """Every unconfirmed claim claimed at least `older_than_seconds` ago, oldest first."""
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=UNCONFIRMED_INDEX,
            KeyConditionExpression="unconfirmed = :u AND claimed_at <= :t",
            ExpressionAttributeValues={
                ":u": {"S": UNCONFIRMED},
                ":t": {"N": str(int(self._clock()) - older_than_seconds)},
            },
        )
        for page in pages:
            yield from (_unconfirmed(item) for item in page.get("Items", []))

    def unconfirmed_email(self, key: str) -> UnconfirmedEmail | None:
        """One unconfirmed claim by its effect key (None when there is none, or it was confirmed)."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}}, ConsistentRead=True
        ).get("Item", {})
        return _unconfirmed(item) if "unconfirmed" in item else None

    def release_unconfirmed(self, email: UnconfirmedEmail) -> bool:
        """Drop an unconfirmed claim so that the e-mail can be sent again (False: it changed meanwhile)."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"id": {"S": CLAIM_PREFIX + email.key}},
                ConditionExpression="unconfirmed = :u AND claimed_at = :t",
                ExpressionAttributeValues={
                    ":u": {"S": UNCONFIRMED},
                    ":t": {"N": str(email.claimed_at)},
                },
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _account_rate(self) -> float:
        if self._max_send_rate is not None:
            return self._max_send_rate
        try:
            return float(self._ses.get_account()["SendQuota"]["MaxSendRate"])
        except Exception as error:  # not fatal: pace as the SES sandbox does
            logger.warning(
                "SES sending quota unknown; pacing at the sandbox rate",
                extra={"rate": SANDBOX_RATE, "error": type(error).__name__},
            )
            return SANDBOX_RATE

    def _claim(self, message: EffectMessage, raw: str) -> bool:
        now = int(self._clock())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": CLAIM_PREFIX + message.key},
                    "unconfirmed": {"S": UNCONFIRMED},
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
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _confirmed(self, key: str) -> bool:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}}, ConsistentRead=True
        ).get("Item", {})
        return "unconfirmed" not in item

    def _confirm(self, key: str) -> None:
        """SES accepted the e-mail: the claim stays (never twice) without its copy of the message."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": CLAIM_PREFIX + key}},
                UpdateExpression="SET #state = :sent, sent_at = :now REMOVE unconfirmed, message",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sent": {"S": "sent"}, ":now": {"N": str(int(self._clock()))}},
            )
        except Exception as error:  # the e-mail is out: a claim left unconfirmed is a false alarm only
            logger.warning(
                "sent, but the claim could not be confirmed",
                extra={"key": key, "error": type(error).__name__},
            )

    def _release(self, key: str) -> None:
        self._dynamodb.delete_item(TableName=self._table, Key={"id": {"S": CLAIM_PREFIX + key}})

    def _send(self, email: Email) -> None:
        body: Any = {}
        if email.text is not None:
            body["Text"] = {"Data": email.text, "Charset": "UTF-8"}
        if email.html is not None:
            body["Html"] = {"Data": email.html, "Charset": "UTF-8"}
        self._ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [email.to]},
            Content={"Simple": {"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": body}},
        )
