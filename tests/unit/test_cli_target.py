"""Every sub-command finds its target in one place (cli/target.py): flags, else the running
`clerk-sync dev` (found in the state folder `clerk-sync dev` itself uses), else the environment; real
AWS is written to only with --aws, and only after saying which account, region and tables."""

from __future__ import annotations

import io

import pytest
from clerk_sync.domain.tables import Table
from clerk_sync_local.cli import target as target_module
from clerk_sync_local.cli.main import main
from clerk_sync_local.cli.target import TargetError, require_write_access, resolve, resolve_running
from clerk_sync_local.stack import state
from clerk_sync_local.stack.state import NotRunningError
from dev_state import publish

SYNCED = ("users", "organizations", "memberships")


def test_nothing_running_and_no_endpoint_is_real_aws(tmp_path):
    found = resolve({"AWS_REGION": "eu-central-1"}, state=tmp_path)
    assert (found.kind, found.region, found.dynamodb_endpoint) == ("aws", "eu-central-1", None)
    assert found.tables.name_of(Table.USERS) == "clerk-sync-users"


def test_a_loopback_endpoint_in_the_environment_is_local(tmp_path):
    found = resolve({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, state=tmp_path)
    assert (found.kind, found.dynamodb_endpoint) == ("local", "http://127.0.0.1:8000")


def test_the_running_dev_stack_wins_over_the_environment_and_flags_win_over_it(tmp_path):
    publish(tmp_path)
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "ORGANIZATIONS_TABLE": "env-orgs"}
    found = resolve(env, state=tmp_path)
    assert (found.kind, found.dynamodb_endpoint, found.aws_endpoint) == (
        "dev",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:5001",
    )
    assert (found.tables.name_of(Table.USERS), found.tables.name_of(Table.ORGANIZATIONS), found.region) == (
        "dev-users",
        "env-orgs",
        "eu-west-3",
    )
    assert found.endpoints().ses == "http://127.0.0.1:5001"
    flagged = resolve(env, endpoint="http://127.0.0.1:7777", state=tmp_path)
    assert (flagged.kind, flagged.dynamodb_endpoint) == ("local", "http://127.0.0.1:7777")


def test_a_dead_stacks_leftover_is_not_a_target(tmp_path):
    publish(tmp_path, pid=2**22 + 12345)  # above pid_max's default: no such process
    assert resolve({}, state=tmp_path).kind == "aws"


def test_the_default_state_folder_is_the_one_dev_publishes_in(tmp_path, monkeypatch):
    """The drift this module removed: with CLERK_SYNC_TEMPLATE set, dev and backfill looked in two places."""
    monkeypatch.setattr(state, "DEFAULT_STATE_DIR", tmp_path)
    monkeypatch.delenv(state.STATE_DIR_ENV, raising=False)
    publish(state.state_dir())
    assert resolve({}).kind == "dev"


def test_a_subcommand_on_a_running_stack_says_none_runs_unless_an_endpoint_or_aws_is_given(tmp_path):
    """`dump`, `emails` and `sms` stop in one way (exit 4) where they used to reach for AWS credentials."""
    with pytest.raises(NotRunningError, match=r"^no running `clerk-sync dev` found .*or pass --endpoint$"):
        resolve_running({}, None, None, tmp_path, "pass --endpoint")
    assert resolve_running({}, None, None, tmp_path, "-", allow_aws=True).kind == "aws"
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    assert resolve_running(env, None, None, tmp_path, "-").kind == "local"
    publish(tmp_path)
    assert resolve_running({}, None, None, tmp_path, "-").kind == "dev"


def test_real_aws_needs_the_flag_and_is_named_before_any_write(tmp_path, monkeypatch):
    found = resolve({"AWS_REGION": "eu-central-1", "USERS_TABLE": "prod-users"}, state=tmp_path)
    with pytest.raises(TargetError, match=r"pass --aws") as refused:
        require_write_access(found, False, "backfill", SYNCED)
    assert "region eu-central-1" in str(refused.value) and "prod-users" in str(refused.value)
    monkeypatch.setattr(target_module, "_account", lambda _: "123456789012")
    said = io.StringIO()
    require_write_access(found, True, "backfill", SYNCED, said)
    assert said.getvalue().startswith(
        "backfill: writing to AWS account 123456789012, DynamoDB AWS, region eu-central-1"
    )


def test_local_targets_need_no_flag(tmp_path):
    found = resolve({"AWS_ENDPOINT_URL": "http://localhost:4566"}, state=tmp_path)
    said = io.StringIO()
    require_write_access(found, False, "backfill", SYNCED, said)
    assert said.getvalue() == ""


def test_backfill_refuses_real_aws_without_the_flag(tmp_path, monkeypatch, capsys):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_SECRET_KEY", "sk_test_nothing")
    monkeypatch.setenv("CLERK_API_URL", "http://127.0.0.1:9/v1")  # never called
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    assert main(["backfill", "--region", "eu-central-1"]) == 2
    err = capsys.readouterr().err
    assert "would write to real AWS" in err and "pass --aws" in err and "Traceback" not in err
