"""A published `clerk-sync dev` state (its dev.json) for the commands that look for a running stack."""

from __future__ import annotations

import os
from pathlib import Path

from clerk_sync_local.stack.state import ConnectionInfo

DEFAULT_TABLES = {"USERS_TABLE": "dev-users", "IDEMPOTENCY_TABLE": "dev-idempotency"}


def publish(folder: Path, pid: int = os.getpid(), tables: dict[str, str] | None = None) -> ConnectionInfo:
    """Write the state a stack with process `pid` would publish in `folder` (a dead pid: a leftover)."""
    info = ConnectionInfo(
        url="http://127.0.0.1:3000/webhooks/clerk",
        secret="whsec_plJ3nmyCDGBKInavdOK15jsl",
        region="eu-west-3",
        aws_endpoint="http://127.0.0.1:5001",
        dynamodb_endpoint="http://127.0.0.1:8001",
        tables=DEFAULT_TABLES if tables is None else tables,
        queue_url="http://127.0.0.1:5001/123/q",
        dead_letter_queue_url="http://127.0.0.1:5001/123/q-dlq",
        pid=pid,
        sender_email="welcome@clerk-sync.local",
    )
    info.save(folder)
    return info
