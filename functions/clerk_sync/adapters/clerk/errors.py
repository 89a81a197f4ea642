"""Why a read from Clerk failed: retryable conditions and the reasons a run stops (one line each)."""

from __future__ import annotations


class ClerkApiError(Exception):
    """Reading from Clerk cannot go on; `str(error)` is the one-line reason shown to the operator."""


class BadCredentialsError(ClerkApiError):
    """Clerk answered 401/403: the secret key is wrong, revoked, or of another instance."""


class FeatureNotEnabledError(ClerkApiError):
    """Clerk answered 403 because the list's feature (organizations, billing) is off on the instance
    (features.py): the kind is skipped, the run goes on."""


class ApiUnreachableError(ClerkApiError):
    """The Clerk API could not be reached (connection refused, DNS, timeouts) even after retries."""


class ApiError(ClerkApiError):
    """Clerk kept answering with an error that retrying did not cure, or one that retrying cannot."""


class RetryableError(Exception):
    """A condition worth retrying; `unreachable` is True when no HTTP answer came back at all."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


class RateLimitedError(RetryableError):
    """HTTP 429; `retry_after` is the server's Retry-After in seconds (None when absent or unreadable)."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("rate limited (429)")
        self.retry_after = retry_after


class NotFoundError(Exception):
    """HTTP 404 for a single object (used to confirm that Clerk no longer has it)."""
