"""examples/my_organizations: the handler, as Lambda loads it from its environment, answers after
webhook deliveries on each engine; run locally (run_locally.py) after `eval "$(clerk-sync env)"`, it
reads a running `clerk-sync dev` on each backend, and says in one line what is missing without it; its
template lints clean."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from builders import envelope, membership, organization, signed, user
from clerk_sync.settings import ACCESS_KEY_ENV, SECRET_ACCESS_KEY_ENV
from clerk_sync_local.stack.template import TEMPLATE_PATH
from stacks import Stack
from test_dev_stack import CLI, DevStack, start

EXAMPLE = TEMPLATE_PATH.parent / "examples" / "my_organizations"
TOOLS_BIN = TEMPLATE_PATH.parent / ".local" / "tools" / "bin"
T0 = 1_732_000_000_000


def load_handler(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the example module afresh with the function environment its template sets."""
    for variable, logical_id in (
        ("USERS_TABLE", "UsersTable"),
        ("ORGANIZATIONS_TABLE", "OrganizationsTable"),
        ("MEMBERSHIPS_TABLE", "MembershipsTable"),
        ("SESSIONS_TABLE", "SessionsTable"),
    ):
        monkeypatch.setenv(variable, stack.tables[logical_id])
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stack.endpoints.dynamodb or "")
    spec = importlib.util.spec_from_file_location("my_organizations", EXAMPLE / "my_organizations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def request(user_id: str | None) -> dict[str, Any]:
    """The payload-v2 event the HTTP API sends once its JWT authorizer accepted a Clerk session token."""
    claims = {"sub": user_id, "iss": "https://clerk.example.com"} if user_id else {}
    return {
        "version": "2.0",
        "routeKey": "GET /me/organizations",
        "rawPath": "/me/organizations",
        "requestContext": {"http": {"method": "GET"}, "authorizer": {"jwt": {"claims": claims}}},
    }


def test_my_organizations_after_joins_a_leave_a_rejoin_and_a_deleted_organization(stack, monkeypatch):
    events = [
        envelope("user.created", user("user_ex", T0), T0),
        envelope("organization.created", organization("org_ex1", T0, name="One", slug="one"), T0),
        envelope("organization.created", organization("org_ex2", T0, name="Two", slug="two"), T0),
        envelope("organization.created", organization("org_ex3", T0, name="Three", slug="three"), T0),
        envelope("organizationMembership.created", membership("org_ex1", "user_ex", T0, role="org:admin")),
        envelope("organizationMembership.created", membership("org_ex2", "user_ex", T0)),
        envelope("organizationMembership.created", membership("org_ex3", "user_ex", T0)),
        envelope("organizationMembership.deleted", membership("org_ex2", "user_ex", T0 + 10), T0 + 10),
        envelope("organizationMembership.created", membership("org_ex2", "user_ex", T0 + 20)),  # re-join
        envelope(
            "organization.deleted", {"object": "organization", "id": "org_ex3", "deleted": True}, T0 + 30
        ),
        envelope("organizationMembership.updated", membership("org_ex1", "user_ex", T0 - 5)),  # stale
    ]
    for event in events:
        assert stack.deliver(signed(event))[0] == 200
    example = load_handler(stack, monkeypatch)

    response = example.handler(request("user_ex"), None)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "organizations": [
            {
                "id": "org_ex1",
                "name": "One",
                "slug": "one",
                "role": "org:admin",
                "permissions": ["org:sys_memberships:read"],
            },
            {
                "id": "org_ex2",
                "name": "Two",
                "slug": "two",
                "role": "org:member",
                "permissions": ["org:sys_memberships:read"],
            },
        ]
    }
    assert json.loads(example.handler(request("user_nobody"), None)["body"]) == {"organizations": []}
    assert example.handler(request(None), None)["statusCode"] == 401


def test_the_example_template_lints_clean():
    result = subprocess.run(
        [str(TOOLS_BIN / "cfn-lint"), str(EXAMPLE / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_runs_on_the_library_alone():
    """The example's module loads clerk_sync.read and nothing of the webhook (nor Powertools)."""
    probe = (
        "import importlib.util, json, sys; "
        f"spec = importlib.util.spec_from_file_location('m', {str(EXAMPLE / 'my_organizations.py')!r}); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    # a Lambda environment: a region and the role's credentials (the library checks both at init)
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        ACCESS_KEY_ENV: "role-key",
        SECRET_ACCESS_KEY_ENV: "role-secret",
        "PATH": str(Path(sys.executable).parent),
    }
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if m.startswith(("clerk_sync.app", "aws_lambda_powertools", "pynamodb"))] == []


@pytest.fixture(params=["moto", "dynamodb-local"])
def dev(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    stack = start(tmp_path, request.param, sender=None)
    yield stack
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=30) == 0, stack.output


def run_locally(dev: DevStack, shell: str) -> subprocess.CompletedProcess[str]:
    """`shell` in bash, in a terminal with no AWS set-up at all (no variable, no ~/.aws)."""
    env = {
        "PATH": f"{Path(CLI).parent}:/usr/bin:/bin",
        "HOME": str(dev.state_dir),
        "CLERK_SYNC_STATE_DIR": str(dev.state_dir),
        "PYTHONPATH": os.pathsep.join(
            str(TEMPLATE_PATH.parent / folder) for folder in ("functions", "infra")
        ),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        ["bash", "-c", shell], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_example_runs_locally_against_clerk_sync_dev(dev):
    for event in (
        ["user.created", "--set", "data.id=user_local"],
        [
            "organization.created",
            "--set",
            "data.id=org_local",
            "--set",
            "data.name=Local",
            "--set",
            "data.slug=local",
        ],
        [
            "organizationMembership.created",
            "--set",
            "data.organization.id=org_local",
            "--set",
            "data.public_user_data.user_id=user_local",
            "--set",
            "data.role=org:admin",
        ],
    ):
        result, [answer] = dev.send(*event)
        assert (result.returncode, answer["status"]) == (0, "applied"), result.stdout + result.stderr
    command = f"{sys.executable} run_locally.py user_local"

    without = run_locally(dev, command)

    assert without.returncode == 1 and without.stdout == ""
    assert without.stderr.splitlines() == [
        "run_locally.py: ClerkData: no AWS region: set AWS_REGION (for a running `clerk-sync dev`, "
        '`eval "$(clerk-sync env)"` sets it)'
    ]

    found = run_locally(dev, f'eval "$(clerk-sync env)" && {command}')

    assert (found.returncode, found.stderr) == (0, ""), found.stderr
    assert json.loads(found.stdout) == {
        "organizations": [
            {
                "id": "org_local",
                "name": "Local",
                "slug": "local",
                "role": "org:admin",
                "permissions": ["org:sys_memberships:read"],
            }
        ]
    }
