"""Why a run stopped on DynamoDB's side (Clerk's side: clerk_sync.adapters.clerk.errors)."""

from __future__ import annotations


class StorageError(Exception):
    """DynamoDB refused or could not be reached (after botocore's own retries)."""
