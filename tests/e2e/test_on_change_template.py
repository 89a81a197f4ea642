"""examples/on_change as it is deployed: its template lints clean and subscribes to the clerk-sync
stack's change bus by that stack's export, with the pattern its handler expects; its module loads the
read library's `parse` and nothing of the webhook (nor Powertools, nor PynamoDB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clerk_sync.settings import ACCESS_KEY_ENV, SECRET_ACCESS_KEY_ENV
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

EXAMPLE = TEMPLATE_PATH.parent / "examples" / "on_change"
TOOLS_BIN = TEMPLATE_PATH.parent / ".local" / "tools" / "bin"


def test_the_example_template_lints_clean():
    result = subprocess.run(
        [str(TOOLS_BIN / "cfn-lint"), str(EXAMPLE / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_is_on_the_clerk_sync_stacks_bus_and_matches_new_members():
    example = load_template(EXAMPLE / "template.yaml")
    stack = load_template()
    rule = example["Resources"]["OnChangeFunction"]["Properties"]["Events"]["MemberJoined"]["Properties"]
    assert rule["EventBusName"] == {"Fn::ImportValue": {"Fn::Sub": "${ClerkSyncStackName}-ChangesBusName"}}
    export = stack["Outputs"]["ChangesBusName"]["Export"]["Name"]
    assert export == {"Fn::Sub": "${AWS::StackName}-ChangesBusName"}
    assert rule["Pattern"] == {"source": ["clerk-sync"], "detail-type": ["organizationMembership.created"]}
    table = example["Resources"]["HandledChangesTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_example_runs_on_the_library_alone():
    probe = (
        "import importlib.util, json, sys; "
        f"spec = importlib.util.spec_from_file_location('m', {str(EXAMPLE / 'on_change.py')!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        ACCESS_KEY_ENV: "role-key",
        SECRET_ACCESS_KEY_ENV: "role-secret",
        "PATH": str(Path(sys.executable).parent),
        "PYTHONPATH": str(TEMPLATE_PATH.parent / "functions"),  # this checkout's library
    }
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    loaded = json.loads(out.stdout)
    assert "clerk_sync.read.changes" in loaded
    assert [m for m in loaded if m.startswith(("clerk_sync.app", "aws_lambda_powertools", "pynamodb"))] == []
