"""Peak memory of a WebhookFunction container: a fresh interpreter imports the handler and serves events."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from clerk_sync.settings import LOG_LEVEL_ENV, METRICS_DISABLED_ENV

PROBE = """
import json, resource, sys, time, uuid
from benchmarks.deliveries import SCENARIOS, _event
from clerk_sync_local.stack.context import LocalContext
import clerk_sync.handlers.webhook as webhook
for n in range(int(sys.argv[1])):
    for make in SCENARIOS.values():
        response = webhook.handler(_event(make(2_000_000 + n)), LocalContext("WebhookFunction"))
        assert response["statusCode"] == 200, response
print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peak_rss_mb(env: dict[str, str], rounds: int = 200) -> float:
    """Maximum resident set size (MB) after serving `rounds` × every scenario."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(rounds)],
        env={**os.environ, **env, METRICS_DISABLED_ENV: "true", LOG_LEVEL_ENV: "WARNING"},
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["max_rss_mb"])
