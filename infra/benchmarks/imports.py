"""Cold import: each handler module, as Lambda loads it, against the naive set, in fresh interpreters;
and the read library (`clerk_sync.read`) as an application's Lambda loads it, with its client made.

Every candidate runs in `python -S` (no site hooks), with only its own code on the path: the handler
modules from the `sam build` artifact (bytecode compiled ahead of time, read-only like /var/task), the
naive set from this virtualenv's site-packages (bytecode compiled by pip). Where no artifact could be
built, the handler modules are imported from the virtualenv instead, and the report says so.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from clerk_sync.settings import (
    ACCESS_KEY_ENV,
    DEFAULT_REGION_ENV,
    ENDPOINT_ENV,
    METRICS_DISABLED_ENV,
    QUEUE_URL_ENV,
    SECRET_ACCESS_KEY_ENV,
    SECRET_ARN_ENV,
    SENDER_EMAIL_ENV,
)
from clerk_sync_local.stack.template import TEMPLATE_PATH

NAIVE = (
    "boto3, pynamodb.models, svix, aws_lambda_powertools.utilities.idempotency, "
    "aws_lambda_powertools.event_handler"
)
HANDLERS = {
    "WebhookFunction": "clerk_sync.handlers.webhook",
    "SideEffectsFunction": "clerk_sync.handlers.side_effects",
}
# What an application pays for the read library: the import and its DynamoDB client (no request).
READ_LIBRARY = "clerk_sync.read"
READ_INIT = "clerk_sync.read.ClerkData.from_environment()"
READ_LABEL = "clerk_sync.read + ClerkData.from_environment()"
# Module init builds clients (no network); these make it work without AWS. As deployed by the template
# (with e-mail on): the webhook creates its Secrets Manager client, the worker its SES client.
ENV = {
    SECRET_ARN_ENV: "arn:aws:secretsmanager:us-east-1:000000000000:secret:clerk-sync",
    SENDER_EMAIL_ENV: "welcome@example.com",
    QUEUE_URL_ENV: "http://127.0.0.1:9/000000000000/clerk-sync-side-effects",
    DEFAULT_REGION_ENV: "us-east-1",
    ACCESS_KEY_ENV: "bench",
    SECRET_ACCESS_KEY_ENV: "bench",
    ENDPOINT_ENV: "http://127.0.0.1:9",
    METRICS_DISABLED_ENV: "true",
    "PYTHONDONTWRITEBYTECODE": "1",  # nothing may be cached between the fresh interpreters
}
PROBE = "import time; t = time.perf_counter(); import {modules}; {init}; print(time.perf_counter() - t)"


@dataclass(frozen=True)
class Candidate:
    """Modules to import, and the only folders on the path."""

    label: str
    modules: str
    path: tuple[str, ...]
    init: str = "pass"
    """A statement timed with the import."""


@dataclass(frozen=True)
class ImportTiming:
    """Median seconds of `import` in a fresh interpreter (interpreter start-up excluded)."""

    label: str
    median: float
    samples: tuple[float, ...]


def venv_paths() -> tuple[str, ...]:
    """This virtualenv's packages, and the functions' sources (installed editable)."""
    return (sysconfig.get_paths()["purelib"], str(TEMPLATE_PATH.parent / "functions"))


def candidates(built: Path | None, scratch: Path) -> list[Candidate]:
    """The naive set, then each handler from the artifact and the read library from the WebhookFunction's
    (the packages an application bundles with it), then the handlers without their bytecode (what SAM's
    standard Python builder ships); or each handler and the read library from the virtualenv."""
    found = [Candidate("naive set", NAIVE, venv_paths())]
    if built is None:
        found += [Candidate(f, m, venv_paths()) for f, m in HANDLERS.items()]
        return [*found, Candidate(READ_LABEL, READ_LIBRARY, venv_paths(), READ_INIT)]
    found += [Candidate(f, m, (str(built / f),)) for f, m in HANDLERS.items()]
    found.append(Candidate(READ_LABEL, READ_LIBRARY, (str(built / "WebhookFunction"),), READ_INIT))
    for function, module in HANDLERS.items():
        sources = scratch / f"{function}-sources-only"
        shutil.copytree(built / function, sources, ignore=shutil.ignore_patterns("__pycache__"))
        found.append(Candidate(f"{function}, sources only", module, (str(sources),)))
    return found


def _once(candidate: Candidate) -> float:
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join(candidate.path)}
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(modules=candidate.modules, init=candidate.init)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure(built: Path | None, scratch: Path, rounds: int = 9) -> list[ImportTiming]:
    """Alternate the candidates round by round so that machine noise hits them alike."""
    chosen = candidates(built, scratch)
    samples: dict[str, list[float]] = {c.label: [] for c in chosen}
    for _ in range(rounds):
        for candidate in chosen:
            samples[candidate.label].append(_once(candidate))
    return [
        ImportTiming(label, statistics.median(values), tuple(values)) for label, values in samples.items()
    ]
