"""Running one side-effect message, once per effect key (Powertools idempotency on DynamoDB)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal, TypedDict

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.claims import Claims, SendOutcome, UnconfirmedSend
from clerk_sync.adapters.dynamodb.liveness import user_deleted
from clerk_sync.adapters.dynamodb.models import Versioned
from clerk_sync.adapters.dynamodb.payloads import PayloadStore
from clerk_sync.adapters.ses import Mailer
from clerk_sync.adapters.sns import TextMessenger
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.app import extensions
from clerk_sync.app.cleanup import CleanupPartResult, CleanupParts
from clerk_sync.domain import mail
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import (
    EFFECT_KINDS,
    Channel,
    EffectMessage,
    PoisonMessageError,
    WorkerTask,
    parse_message,
)
from clerk_sync.domain.mail import Email
from clerk_sync.domain.pacing import handback_delay
from clerk_sync.observability import count, logger

EFFECT_TTL_SECONDS = 30 * 24 * 3600
KEY_PREFIX = "clerk-sync.effect"
# Time kept back from the invocation's deadline (at most a tenth of what is left): the effect's own
# writes, then the batch's answer.
DEADLINE_MARGIN_SECONDS = 3.0
NO_CONTEXT_SECONDS = 30.0  # the template's timeout, for calls without a Lambda context (tools, tests)
# The counter of sends whose outcome is unknown, per channel (an alarm watches each).
UNCONFIRMED_METRICS = {Channel.EMAIL: "UnconfirmedEmails", Channel.SMS: "UnconfirmedSms"}
# The outcomes of an effect that sends nothing, by design (logged and counted, not failures).
Skipped = Literal[
    "skipped_no_address",  # a welcome for a user without an e-mail address
    "skipped_no_sender",  # e-mail is not configured (no SENDER_EMAIL)
    "skipped_sms_disabled",  # SMS is not configured (SMS_ENABLED is not true)
    "skipped_deleted_user",  # a welcome for a user deleted since
]
# What a send of a channel that is not configured answers.
NOT_CONFIGURED: dict[Channel, Skipped] = {
    Channel.EMAIL: "skipped_no_sender",
    Channel.SMS: "skipped_sms_disabled",
}


class SendResult(TypedDict):
    """What an effect that sends (or skips sending) something did: its idempotency record, and the
    `outcome` of its log line and `Effect_<outcome>` metric."""

    outcome: SendOutcome | Skipped


class ResendResult(TypedDict):
    """A resend refused because the unconfirmed send changed meanwhile (nothing sent)."""

    outcome: Literal["changed_meanwhile"]


Result = SendResult | CleanupPartResult
"""What running one effect message did (its idempotency record: a replay answers the same)."""


class Worker:
    """Dispatches effect messages by kind; each effect key runs its effect (and extensions) once."""

    def __init__(
        self,
        cleanups: CleanupParts,
        mailer: Mailer | None,
        persistence: BasePersistenceLayer,
        users: type[Versioned],
        payloads: PayloadStore,
        queue: SideEffectsQueue,
        texter: TextMessenger | None = None,
    ) -> None:
        self._cleanups = cleanups
        self._context: LambdaContext | None = None  # the invocation's, for clean-ups to plan within
        self._mailer = mailer
        self._texter = texter
        self._users = users
        self._payloads = payloads
        self._queue = queue
        self.config = IdempotencyConfig(
            event_key_jmespath="key", expires_after_seconds=EFFECT_TTL_SECONDS, use_local_cache=True
        )
        self._once = idempotent_function(
            data_keyword_argument="effect",
            persistence_store=persistence,
            config=self.config,
            key_prefix=KEY_PREFIX,
        )(self._run)
        self._tasks: dict[WorkerTask, Callable[[EffectMessage, Deadline], Result]] = {
            WorkerTask.WELCOME: self._welcome_email,
            WorkerTask.CLEANUP: self._cleanup,
            WorkerTask.DELIVER: self._deliver_email,
            WorkerTask.DELIVER_SMS: self._deliver_sms,
        }

    def handle(self, body: str, message_id: str, context: LambdaContext | None) -> Result:
        """Run the message's effect once; PoisonMessageError for messages no retry can fix."""
        if context is not None:
            self.config.register_lambda_context(context)
        self._context = context
        try:
            message = self._parse(body)
        except PoisonMessageError as error:
            logger.warning("poison message", extra={"message_id": message_id, "reason": str(error)})
            count("PoisonMessages")
            raise
        result: Result = self._once(
            effect={"key": message.key},
            message=message,
            deadline=Deadline.of_invocation(context, DEADLINE_MARGIN_SECONDS, NO_CONTEXT_SECONDS),
        )
        logger.info(
            "effect",
            extra={
                "message_id": message_id,
                "kind": message.kind,
                "svix_id": message.svix_id,
                "target": message.target,
                "outcome": result.get("outcome"),
            },
        )
        count(f"Effect_{result.get('outcome')}")
        channel = EFFECT_KINDS[message.kind].channel
        if result.get("outcome") == "unknown" and channel is not None:
            count(UNCONFIRMED_METRICS[channel])
        return result

    @property
    def mailer(self) -> Mailer | None:
        """The e-mail sender (None when no SENDER_EMAIL is set)."""
        return self._mailer

    @property
    def texter(self) -> TextMessenger | None:
        """The SMS sender (None when SMS_ENABLED is not true)."""
        return self._texter

    def claims(self, channel: Channel) -> Claims | None:
        """The claims of a channel's sends (None when that channel is not configured)."""
        sender = self._mailer if channel is Channel.EMAIL else self._texter
        return None if sender is None else sender.claims

    def hand_back(self, receipt_handle: str, message_id: str, receive_count: int) -> None:
        """Delay a throttled message's next receive, growing with its receives so far."""
        delay = handback_delay(receive_count)
        count("EmailsHandedBack")
        try:
            self._queue.hand_back(receipt_handle, delay)
        except Exception as error:  # it returns after the queue's own visibility timeout instead
            logger.warning(
                "could not delay a throttled message",
                extra={"message_id": message_id, "error": type(error).__name__},
            )
            return
        logger.info("throttled message handed back", extra={"message_id": message_id, "delay_s": delay})

    def resend(self, unconfirmed: UnconfirmedSend) -> Result | ResendResult:
        """Send an unconfirmed e-mail or SMS again, after an operator checked that it did not arrive."""
        channel = EFFECT_KINDS[unconfirmed.kind].channel if unconfirmed.kind in EFFECT_KINDS else None
        if channel is None:
            raise PoisonMessageError(f"{unconfirmed.kind!r} sends nothing"[:80])
        claims = self.claims(channel)
        if claims is None:
            return {"outcome": NOT_CONFIGURED[channel]}
        message = self._parse(unconfirmed.message)
        if not claims.release_unconfirmed(unconfirmed):
            return {"outcome": "changed_meanwhile"}
        return self._tasks[EFFECT_KINDS[message.kind].task](
            message, Deadline.of_invocation(None, 0, NO_CONTEXT_SECONDS)
        )

    def _parse(self, body: str) -> EffectMessage:
        """The message, its spilled body loaded (it keeps the body as queued: the small reference)."""
        message = parse_message(body)
        if message.spilled is None:
            return message
        full = parse_message(self._payloads.load(message.spilled))
        if full.key != message.key:
            raise PoisonMessageError("spilled body belongs to another effect")
        return replace(full, queued=body)

    def _run(self, effect: dict[str, str], message: EffectMessage, deadline: Deadline) -> Result:
        result = self._tasks[EFFECT_KINDS[message.kind].task](message, deadline)
        if result.get("outcome") == "continued":  # a clean-up's extensions run after its last part
            return result
        for extension in extensions.handlers_for(message.kind):
            extension(message)
        return result

    def _welcome_email(self, message: EffectMessage, deadline: Deadline) -> Result:
        """Greet a new user, unless they have no address, no sender is set or they were deleted since."""
        address = message.text("email")
        if address is None:
            return {"outcome": "skipped_no_address"}
        if self._mailer is None:
            return {"outcome": "skipped_no_sender"}
        if user_deleted(self._users, message.target):
            return {"outcome": "skipped_deleted_user"}
        email = mail.welcome(address, message.text("first_name"))
        return {"outcome": self._mailer.send_once(message, message.queued, email, deadline)}

    def _deliver_email(self, message: EffectMessage, deadline: Deadline) -> Result:
        if self._mailer is None:
            return {"outcome": "skipped_no_sender"}
        email = Email(
            to=message.fields["to_email_address"],
            subject=message.fields["subject"],
            text=message.text("body_plain"),
            html=message.text("body"),
        )
        return {"outcome": self._mailer.send_once(message, message.queued, email, deadline)}

    def _deliver_sms(self, message: EffectMessage, deadline: Deadline) -> Result:
        if self._texter is None:
            return {"outcome": NOT_CONFIGURED[Channel.SMS]}
        to, text = message.fields["to_phone_number"], message.fields["message"]
        return {"outcome": self._texter.send_once(message, message.queued, to, text)}

    def _cleanup(self, message: EffectMessage, deadline: Deadline) -> Result:
        """One part of a clean-up, within its own slice of the invocation (app/cleanup.py)."""
        return self._cleanups.run(message, self._context)
