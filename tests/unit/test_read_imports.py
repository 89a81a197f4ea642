"""Cold start in the caller's Lambda: clerk_sync.read loads none of the webhook's code, Powertools,
PynamoDB or the Clerk SDK, not even once a ClerkData is made (checked in a fresh interpreter); the change
feed's `parse` loads its module only when first used, and nothing of the publishing side."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import clerk_sync.read
clerk_sync.read.ClerkData.from_environment({"AWS_DEFAULT_REGION": "us-east-1"})
print(json.dumps(sorted(sys.modules)))
"""
FORBIDDEN = (
    "clerk_sync.app",
    "clerk_sync.handlers",
    "clerk_sync.bootstrap",
    "clerk_sync.backfill",
    "clerk_sync.observability",
    "clerk_sync.read.first_use",
    "aws_lambda_powertools",
    "pynamodb",
    "clerk_backend_api",
    "httpx",
    "svix",
)


PARSE_PROBE = """
import json, sys
from clerk_sync.read import NotAChangeError, parse
try:
    parse({"source": "clerk-sync", "detail-type": "user.created", "detail": {}})
except NotAChangeError:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_read_library_loads_no_webhook_code_powertools_pynamodb_or_sdk():
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    assert "clerk_sync.read.data" in loaded
    assert [m for m in loaded if m.startswith(FORBIDDEN)] == []
    assert "clerk_sync.read.changes" not in loaded  # loaded at the first use of `parse` and its kin
    assert "clerk_sync.read.billing_records" not in loaded  # at the first use of `Subscription` …


def test_parsing_a_change_loads_its_module_and_nothing_of_the_publishing_side():
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    assert "clerk_sync.read.changes" in loaded
    publishing = ("clerk_sync.adapters.eventbridge", "clerk_sync.adapters.dynamodb.streams")
    assert [m for m in loaded if m.startswith((*FORBIDDEN, *publishing))] == []
