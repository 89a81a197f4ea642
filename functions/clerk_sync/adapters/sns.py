"""Sending text messages (SMS) through Amazon SNS at most once per effect key, with every unknown
outcome recorded.

SNS `Publish(PhoneNumber=…)` takes no idempotency token either, so each send is guarded by a claim in
the idempotency table exactly as e-mails are (adapters/claims.py, channel `sms`): a definite refusal
(an error answer, throttling included, or no connection) releases it and the message is retried, an
accepted publish confirms it, anything else leaves it *unconfirmed* (`clerk-sync sms unconfirmed`,
docs/runbook.md). The SNS client makes a single attempt per call.

Messages are sent as `Transactional` (`AWS.SNS.SMS.SMSType`: Clerk's are verification codes and
sign-in links), optionally from an origination number or under a sender id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from clerk_sync.adapters.claims import Claims, SendOutcome, UnconfirmedSend
from clerk_sync.domain.effects import Channel, EffectMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

SMS_TYPE = "Transactional"


def _string(value: str) -> MessageAttributeValueTypeDef:
    return {"DataType": "String", "StringValue": value}


class TextMessenger:
    """SNS SMS sender guarded by claims in the idempotency table."""

    def __init__(
        self,
        sns: SNSClient,
        dynamodb: DynamoDBClient,
        claims_table: str,
        *,
        origination_number: str | None = None,
        sender_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`origination_number` (E.164) and `sender_id`: what the recipient sees as the sender, where
        the destination country supports it (None: the account's default)."""
        self._sns = sns
        self.claims = Claims(dynamodb, claims_table, Channel.SMS, clock=clock)
        attributes: dict[str, MessageAttributeValueTypeDef] = {"AWS.SNS.SMS.SMSType": _string(SMS_TYPE)}
        if origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = _string(origination_number)
        if sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = _string(sender_id)
        self._attributes = attributes

    def send_once(self, message: EffectMessage, raw: str, to: str, text: str) -> SendOutcome:
        """Send `text` to the phone number `to` unless this effect was claimed before.

        `raw` is the queued message (kept on the claim for a resend). Raises SendRefused when SNS
        certainly did not send it (claim released).
        """
        if not self.claims.take(message, raw):
            return self.claims.earlier_outcome(message.key)
        outcome = self.claims.attempt(message, lambda: self._publish(to, text), "SNS")
        return "sent" if outcome == "sent" else "unknown"  # (never "throttled": not asked for)

    def unconfirmed(self, older_than_seconds: int = 0) -> Iterator[UnconfirmedSend]:
        """Every unconfirmed SMS claimed at least `older_than_seconds` ago, oldest first."""
        return self.claims.unconfirmed(older_than_seconds)

    def _publish(self, to: str, text: str) -> None:
        self._sns.publish(PhoneNumber=to, Message=text, MessageAttributes=self._attributes)
