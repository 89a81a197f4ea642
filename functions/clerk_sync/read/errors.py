"""The read library's own errors (a module of its own: `data` and `first_use` both raise them, and
`data` imports `first_use`)."""

from __future__ import annotations

from clerk_sync.settings import ConfigError


class ClerkUnavailableError(Exception):
    """`ensure_*` could not read from the Clerk Backend API (bad secret key, unreachable, kept failing)."""


class AwsConfigError(ConfigError):
    """No AWS region or no credentials to read the tables with (raised by the constructor, before any
    request, instead of botocore's NoRegionError and NoCredentialsError)."""
