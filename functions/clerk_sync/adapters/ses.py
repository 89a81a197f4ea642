"""Sending e-mail through SES v2 at most once per effect key, with every unknown outcome recorded.

SES takes no idempotency token, so an answer lost after SES accepted a message leaves it unknown
whether the e-mail went out: exactly once is impossible, never twice is not. Each send is guarded by
a claim in the idempotency table (adapters/claims.py, channel `email`), written before SES is called:
a definite refusal releases it (the message is retried), an accepted send confirms it, anything else
leaves it *unconfirmed*, listed by `clerk-sync emails unconfirmed` and resent, once checked, by
`clerk-sync emails resend` (docs/runbook.md).

The SES client makes a single attempt per call (no botocore retries: a retried SendEmail whose first
answer was lost is a second e-mail), and sends are paced to this container's share of the account's
sending rate (`pacing.Pacer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from clerk_sync.adapters.claims import (
    UNCONFIRMED_INDEX,
    Claims,
    SendOutcome,
    SendRefused,
    UnconfirmedSend,
    error_code,
)
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import Channel, EffectMessage
from clerk_sync.domain.mail import Email
from clerk_sync.domain.pacing import SANDBOX_RATE, Pacer, share_of
from clerk_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sesv2 import SESV2Client

__all__ = ["UNCONFIRMED_INDEX", "Mailer", "SendOutcome", "SendRefused", "SendThrottled", "UnconfirmedEmail"]

THROTTLE_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
THROTTLED_ATTEMPTS = 3  # sends of one e-mail in one invocation while SES answers "too many requests"

UnconfirmedEmail = UnconfirmedSend
"""A claimed e-mail whose outcome is unknown: it may or may not have been sent."""


class SendThrottled(SendRefused):
    """SES refused for the sending rate (or this invocation had no time left to wait for its turn)."""


def _throttled(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(error) in THROTTLE_CODES or status == 429


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
        self.claims = Claims(dynamodb, claims_table, Channel.EMAIL, clock=clock)
        self.sender = sender
        self._max_send_rate = max_send_rate
        self._max_concurrency = max_concurrency
        self._pacer: Pacer | None = None

    def send_once(self, message: EffectMessage, raw: str, email: Email, deadline: Deadline) -> SendOutcome:
        """Send unless this effect was claimed before.

        `raw` is the queued message (kept on the claim for a resend); `deadline` is when this
        invocation must stop waiting for its turn. Raises SendRefused / SendThrottled when
        SES certainly did not send (claim released).
        """
        if not self.claims.take(message, raw):
            return self.claims.earlier_outcome(message.key)
        pacer = self.pacer()
        reason = "no time left in this invocation to send at the SES pace"
        for _attempt in range(THROTTLED_ATTEMPTS):
            if deadline.reached_by(pacer.delay()):
                break
            pacer.wait()
            outcome = self.claims.attempt(message, lambda: self._send(email), "SES", _throttled)
            if outcome == "throttled":
                pacer.throttled()
                reason = "SES sending rate exceeded"
                continue
            if outcome == "sent":
                pacer.succeeded()
            return outcome
        self.claims.release(message.key)
        raise SendThrottled(reason)

    def pacer(self) -> Pacer:
        """This container's pace, from the account's quota (asked once, at the first send)."""
        if self._pacer is None:
            self._pacer = Pacer(share_of(self._account_rate(), self._max_concurrency))
        return self._pacer

    def unconfirmed(self, older_than_seconds: int = 0) -> Iterator[UnconfirmedEmail]:
        """Every unconfirmed e-mail claimed at least `older_than_seconds` ago, oldest first."""
        return self.claims.unconfirmed(older_than_seconds)

    def unconfirmed_email(self, key: str) -> UnconfirmedEmail | None:
        """One unconfirmed e-mail by its effect key (None when there is none, or it was confirmed)."""
        return self.claims.unconfirmed_claim(key)

    def release_unconfirmed(self, email: UnconfirmedEmail) -> bool:
        """Drop an unconfirmed claim so that the e-mail can be sent again (False: it changed meanwhile)."""
        return self.claims.release_unconfirmed(email)

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
