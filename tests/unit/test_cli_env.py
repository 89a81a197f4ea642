"""`clerk-sync env`: the exports for the running `clerk-sync dev` (found as every sub-command finds it),
which a shell's eval turns into exactly the stack's values; one line and exit code 4 when none runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dev_state
from clerk_sync.settings import TABLE_VARIABLES
from clerk_sync_local.cli.env import lines
from clerk_sync_local.cli.exit_codes import NOT_RUNNING
from clerk_sync_local.cli.main import main
from clerk_sync_local.stack.state import ConnectionInfo

TABLES = {"USERS_TABLE": "dev users; $(touch pwned)", "MEMBERSHIPS_TABLE": "dev-memberships"}


def publish(folder: Path, pid: int = os.getpid()) -> ConnectionInfo:
    return dev_state.publish(folder, pid, TABLES)


def evaluated(script: list[str], environ: dict[str, str], cwd: Path) -> dict[str, str]:
    """The environment a shell ends with after `eval`-ing the lines."""
    shell = "\n".join([*script, "env -0"])
    out = subprocess.run(["bash", "-c", shell], env=environ, cwd=cwd, capture_output=True, check=True)
    return dict(entry.split("=", 1) for entry in out.stdout.decode().split("\0") if entry)


def test_the_exports_point_a_shell_at_the_running_stack(tmp_path):
    publish(tmp_path)
    before = {
        "PATH": os.environ["PATH"],
        "AWS_PROFILE": "production",
        "AWS_SESSION_TOKEN": "token",
        "AWS_ENDPOINT_URL_SQS": "https://sqs.example.com",
        "AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.example.com",
        "ORGANIZATIONS_TABLE": "mine-orgs",
    }

    after = evaluated(lines(before, tmp_path), before, tmp_path)

    assert not (tmp_path / "pwned").exists()
    assert {k: v for k, v in after.items() if k.startswith("AWS_")} == {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "eu-west-3",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5001",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001",
    }
    tables = {variable: after[variable] for variable in TABLE_VARIABLES.values()}
    assert tables["USERS_TABLE"] == "dev users; $(touch pwned)"
    assert tables["MEMBERSHIPS_TABLE"] == "dev-memberships"
    assert tables["ORGANIZATIONS_TABLE"] == "mine-orgs"  # as the CLI reads it: the environment's
    assert tables["SESSIONS_TABLE"] == "clerk-sync-sessions"


def test_nothing_to_unset_prints_only_exports(tmp_path):
    publish(tmp_path)
    assert all(line.startswith("export ") for line in lines({}, tmp_path))


def test_no_running_stack_is_one_line_and_exit_code_4(tmp_path, capsys):
    publish(tmp_path, pid=2**22 + 12345)  # a dead stack's leftover: above pid_max's default

    assert main(["env", "--state-dir", str(tmp_path)]) == NOT_RUNNING

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"clerk-sync: error: no running `clerk-sync dev` found (no live {tmp_path / 'dev.json'}): start one "
        "with `make dev`, or give the --state-dir of the one that runs"
    ]
