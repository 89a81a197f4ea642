"""Cold import: each handler module against the naive set of libraries, in fresh interpreters."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

NAIVE = (
    "boto3, pynamodb.models, svix, aws_lambda_powertools.utilities.idempotency, "
    "aws_lambda_powertools.event_handler"
)
HANDLERS = {
    "WebhookFunction": "clerk_sync.handlers.webhook",
    "SideEffectsFunction": "clerk_sync.handlers.side_effects",
}
# Module init builds clients (no network); these make it work without AWS.
ENV = {
    "CLERK_WEBHOOK_SIGNING_SECRET": "whsec_plJ3nmyCDGBKInavdOK15jsl",
    "SIDE_EFFECTS_QUEUE_URL": "http://127.0.0.1:9/000000000000/clerk-sync-side-effects",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
PROBE = "import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"


@dataclass(frozen=True)
class ImportTiming:
    """Median seconds of `import` in a fresh interpreter (interpreter start-up excluded)."""

    label: str
    median: float
    samples: tuple[float, ...]


def _once(modules: str) -> float:
    env = {**os.environ, **ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=modules)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure(rounds: int = 9) -> list[ImportTiming]:
    """Alternate the candidates round by round so that machine noise hits them alike."""
    candidates = {"naive set": NAIVE, **HANDLERS}
    samples: dict[str, list[float]] = {label: [] for label in candidates}
    for _ in range(rounds):
        for label, modules in candidates.items():
            samples[label].append(_once(modules))
    return [
        ImportTiming(label, statistics.median(values), tuple(values)) for label, values in samples.items()
    ]
