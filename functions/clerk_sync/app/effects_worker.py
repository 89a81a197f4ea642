"""Running one side-effect message, once per effect key (Powertools idempotency on DynamoDB)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync.adapters.dynamodb.liveness import user_deleted
from clerk_sync.adapters.dynamodb.models import UserRecord
from clerk_sync.adapters.dynamodb.payloads import PayloadStore
from clerk_sync.adapters.ses import Mailer, UnconfirmedEmail
from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.app import extensions
from clerk_sync.app.cleanup import CleanupParts
from clerk_sync.domain import mail
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import KINDS, EffectMessage, Handler, PoisonMessageError, parse_message
from clerk_sync.domain.mail import Email
from clerk_sync.domain.pacing import handback_delay
from clerk_sync.observability import count, logger

EFFECT_TTL_SECONDS = 30 * 24 * 3600
KEY_PREFIX = "clerk-sync.effect"
# Time kept back from the invocation's deadline (at most a tenth of what is left): the effect's own
# writes, then the batch's answer.
DEADLINE_MARGIN_SECONDS = 3.0
NO_CONTEXT_SECONDS = 30.0  # the template's timeout, for calls without a Lambda context (tools, tests)

Result = dict[str, Any]


class Worker:
    """Dispatches effect messages by kind; each effect key runs its effect (and extensions) once."""

    def __init__(
        self,
        cleanups: CleanupParts,
        mailer: Mailer | None,
        persistence: BasePersistenceLayer,
        users: type[UserRecord],
        payloads: PayloadStore,
        queue: SideEffectsQueue,
    ) -> None:
        self._cleanups = cleanups
        self._context: LambdaContext | None = None  # the invocation's, for clean-ups to plan within
        self._mailer = mailer
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
        self._handlers: dict[Handler, Callable[[EffectMessage, Deadline], Result]] = {
            Handler.WELCOME: self._welcome_email,
            Handler.CLEANUP: self._cleanup,
            Handler.DELIVER: self._deliver_email,
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
        if result.get("outcome") == "unknown":
            count("UnconfirmedEmails")
        return result

    @property
    def mailer(self) -> Mailer | None:
        """The e-mail sender (None when no SENDER_EMAIL is set)."""
        return self._mailer

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

    def resend(self, unconfirmed: UnconfirmedEmail) -> Result:
        """Send an unconfirmed e-mail again, after an operator checked that it did not arrive."""
        if self._mailer is None:
            return {"outcome": "skipped_no_sender"}
        message = self._parse(unconfirmed.message)
        if not self._mailer.release_unconfirmed(unconfirmed):
            return {"outcome": "changed_meanwhile"}
        return self._handlers[KINDS[message.kind].handler](
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
        result = self._handlers[KINDS[message.kind].handler](message, deadline)
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

    def _cleanup(self, message: EffectMessage, deadline: Deadline) -> Result:
        """One part of a clean-up, within its own slice of the invocation (app/cleanup.py)."""
        return self._cleanups.run(message, self._context)
