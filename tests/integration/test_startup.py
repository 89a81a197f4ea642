"""A bad configuration fails the function's init with a readable reason, not every request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BASE = {
    "SIDE_EFFECTS_QUEUE_URL": "http://127.0.0.1:9/000000000000/q",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "PYTHONPATH": os.pathsep.join(sys.path),
}


def init(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_WEBHOOK_SIGNING_SECRET")}
    return subprocess.run(
        [sys.executable, "-c", "import clerk_sync.handlers.webhook"],
        env={**env, **BASE, **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, "CLERK_WEBHOOK_SIGNING_SECRET"),
        ({"CLERK_WEBHOOK_SIGNING_SECRET": "   "}, "CLERK_WEBHOOK_SIGNING_SECRET"),
        ({"CLERK_WEBHOOK_SIGNING_SECRET": "not-a-whsec-secret"}, "whsec_"),
        ({"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_%%%%"}, "base64"),
    ],
)
def test_bad_secret_fails_the_init_with_its_reason(extra, reason):
    result = init(extra)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("clerk_sync.settings.ConfigError") and reason in last
    assert "%%%%" not in result.stderr and "not-a-whsec-secret" not in result.stderr


def test_good_configuration_initialises_without_network():
    result = init({"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_plJ3nmyCDGBKInavdOK15jsl"})
    assert result.returncode == 0, result.stderr
