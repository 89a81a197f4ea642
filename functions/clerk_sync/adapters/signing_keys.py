"""Where the webhook signing keys come from: the environment (local/dev) or AWS Secrets Manager.

In AWS the stack's secret holds Clerk's `whsec_…` secret(s), separated by spaces or commas while a
rotation overlaps. It is read through Powertools Parameters with a cache window (`max_age`), so putting
a new value needs no redeploy: every container picks it up within one window. Nothing is read at import
time (and so nothing secret lands in a SnapStart snapshot): the first request of a container fetches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from clerk_sync.settings import ConfigError, parse_signing_secrets

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

SigningKeys = Callable[[], tuple[bytes, ...]]
"""A zero-argument source of the current HMAC keys; may raise SigningKeysUnavailable."""

DEFAULT_MAX_AGE_SECONDS = 300


class SigningKeysUnavailable(Exception):
    """The keys cannot be read or decoded right now: answer 503 so that Svix retries.

    `reason` is safe to log: it names the secret and the failure, never the secret's value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def static_keys(keys: tuple[bytes, ...]) -> SigningKeys:
    """Keys fixed at start-up (from CLERK_WEBHOOK_SIGNING_SECRET)."""
    return lambda: keys


class SecretsManagerKeys:
    """Keys read from one Secrets Manager secret, cached for `max_age` seconds per container."""

    def __init__(
        self,
        secret_id: str,
        client: SecretsManagerClient,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.secret_id = secret_id
        self.max_age = max_age
        self._provider = SecretsProvider(boto3_client=client)
        self._raw: str | None = None
        self._keys: tuple[bytes, ...] = ()

    def __call__(self) -> tuple[bytes, ...]:
        try:
            value = self._provider.get(self.secret_id, max_age=self.max_age)
        except GetParameterError as error:
            # botocore's message: error code and operation, e.g. ResourceNotFoundException (the stack
            # created the secret without a value: put Clerk's secret first) or AccessDeniedException.
            raise SigningKeysUnavailable(f"cannot read secret {self.secret_id}: {error}") from None
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise SigningKeysUnavailable(f"secret {self.secret_id}: binary value is not UTF-8") from None
        if not isinstance(value, str):
            raise SigningKeysUnavailable(f"secret {self.secret_id}: no string value")
        if value != self._raw:  # decode once per new value, not on every request
            try:
                keys = parse_signing_secrets(value, source=f"secret {self.secret_id}")
            except ConfigError as error:
                # e.g. "malformed secret arn:…: secret #2 is not valid base64 after 'whsec_'":
                # the position and the problem, never the material
                raise SigningKeysUnavailable(f"malformed {error}") from None
            self._raw, self._keys = value, keys
        return self._keys
