"""Running one side-effect message, once per effect key (Powertools idempotency on DynamoDB)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync import extensions, mail
from clerk_sync.cleanup_parts import CleanupParts
from clerk_sync.mail import Email
from clerk_sync.mailer import Mailer
from clerk_sync.messages import EffectMessage, PoisonMessageError, parse_message
from clerk_sync.observability import count, logger

EFFECT_TTL_SECONDS = 30 * 24 * 3600
KEY_PREFIX = "clerk-sync.effect"

Result = dict[str, Any]


class Worker:
    """Dispatches effect messages by kind; each effect key runs its effect (and extensions) once."""

    def __init__(
        self, cleanups: CleanupParts, mailer: Mailer | None, persistence: BasePersistenceLayer
    ) -> None:
        self._cleanups = cleanups
        self._context: LambdaContext | None = None  # the invocation's, for clean-ups to plan within
        self._mailer = mailer
        self.config = IdempotencyConfig(
            event_key_jmespath="key", expires_after_seconds=EFFECT_TTL_SECONDS, use_local_cache=True
        )
        self._once = idempotent_function(
            data_keyword_argument="effect",
            persistence_store=persistence,
            config=self.config,
            key_prefix=KEY_PREFIX,
        )(self._run)
        self._effects: dict[str, Callable[[EffectMessage], Result]] = {
            "welcome_email": self._welcome_email,
            "user_cleanup": self._cleanup,
            "organization_cleanup": self._cleanup,
            "deliver_email": self._deliver_email,
        }

    def handle(self, body: str, message_id: str, context: LambdaContext | None) -> Result:
        """Run the message's effect once; PoisonMessageError for messages no retry can fix."""
        if context is not None:
            self.config.register_lambda_context(context)
        self._context = context
        try:
            message = parse_message(body)
        except PoisonMessageError as error:
            logger.warning("poison message", extra={"message_id": message_id, "reason": str(error)})
            count("PoisonMessages")
            raise
        result: Result = self._once(effect={"key": message.key}, message=message)
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
        return result

    def _run(self, effect: dict[str, str], message: EffectMessage) -> Result:
        result = self._effects[message.kind](message)
        if result.get("outcome") == "continued":  # a clean-up's extensions run after its last part
            return result
        for extension in extensions.handlers_for(message.kind):
            extension(message)
        return result

    def _send(self, message: EffectMessage, email: Email) -> Result:
        if self._mailer is None:
            return {"outcome": "skipped_no_sender"}
        return {"outcome": self._mailer.send_once(message.key, email)}

    def _welcome_email(self, message: EffectMessage) -> Result:
        address = message.text("email")
        if address is None:
            return {"outcome": "skipped_no_address"}
        return self._send(message, mail.welcome(address, message.text("first_name")))

    def _deliver_email(self, message: EffectMessage) -> Result:
        email = Email(
            to=message.fields["to_email_address"],
            subject=message.fields["subject"],
            text=message.text("body_plain"),
            html=message.text("body"),
        )
        return self._send(message, email)

    def _cleanup(self, message: EffectMessage) -> Result:
        return self._cleanups.run(message, self._context)
