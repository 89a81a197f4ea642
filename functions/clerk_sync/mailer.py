"""Sending e-mail through SES v2, at most once per effect key (a claim is recorded before sending)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from clerk_sync.mail import Email

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sesv2 import SESV2Client

CLAIM_TTL_SECONDS = 30 * 24 * 3600
SendOutcome = Literal["sent", "claimed_before"]


class Mailer:
    """SES v2 sender guarded by claims in the idempotency table.

    A claim (conditional put of `claim#<effect key>`) is written before SES is called and removed if
    SES refuses the message, so a retry sends it. If the process dies after SES accepted it, the claim
    stays and no retry sends it again; if it died between claim and send, the e-mail is not sent and the
    outcome `claimed_before` is logged and counted, for follow-up: never twice beats maybe twice.
    """

    def __init__(self, ses: SESV2Client, dynamodb: DynamoDBClient, claims_table: str, sender: str) -> None:
        self._ses = ses
        self._dynamodb = dynamodb
        self._table = claims_table
        self.sender = sender

    def send_once(self, key: str, email: Email) -> SendOutcome:
        """Send unless this key was claimed before; SES failures release the claim and raise."""
        claim = {"id": {"S": f"claim#{key}"}}
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={**claim, "expiration": {"N": str(int(time.time()) + CLAIM_TTL_SECONDS)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return "claimed_before"
            raise
        try:
            self._send(email)
        except Exception:
            self._dynamodb.delete_item(TableName=self._table, Key=claim)
            raise
        return "sent"

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
