"""Bad input to `clerk-sync`: one line on stderr, a non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clerk_sync_local.cli import main
from clerk_sync_local.engines import free_port

CLI = str(Path(sys.executable).with_name("clerk-sync"))
SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"


def clerk_sync(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLERK_SYNC_STATE_DIR": str(state_dir)}
    env.pop("CLERK_WEBHOOK_SIGNING_SECRET", None)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("clerk-sync: error: "), lines[0]
    assert fragment in lines[0]
    assert result.returncode == code


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["send", "{tmp}/missing.json"], 2, "cannot read"),
        (["send", "{tmp}"], 2, "Is a directory"),
        (["send", "{tmp}/not-json.json"], 2, "is not JSON"),
        (["send", "user.created", "--set", "first_name"], 2, "expected PATH=VALUE"),
        (["send", "user.created", "--set", "data.email_addresses.9.id=x"], 2, "not an index"),
        (["send", "user.created"], 2, "no running `clerk-sync dev` found"),
        (["send", "user.created", "--url", "http://127.0.0.1:1/", "--secret", "hunter2"], 2, "whsec_"),
        (["send", "user.created", "--url", "localhost:3000", "--secret", SECRET], 2, "bad URL"),
        (["dump"], 1, "no running `clerk-sync dev` found"),
        (["dump", "accounts"], 2, "unknown table 'accounts'"),
        (["dev", "--backend", "moto", "--aws-endpoint", "http://127.0.0.1:1"], 2, "exclude each other"),
        (["dev", "--port", "70000"], 2, "not a port number"),
        (["deploy"], 2, "invalid choice: 'deploy'"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_bad_input_gives_one_line_and_non_zero_exit(args, code, fragment, tmp_path, capsys, monkeypatch):
    """main() in-process (the console script calls just that); the cases below run the real command."""
    (tmp_path / "not-json.json").write_text("user.created\n")
    monkeypatch.setenv("CLERK_SYNC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CLERK_WEBHOOK_SIGNING_SECRET", raising=False)
    returncode = main([arg.replace("{tmp}", str(tmp_path)) for arg in args])
    out, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess(args, returncode, out, err), code, fragment)


def test_unknown_event_type(tmp_path):
    result = clerk_sync("send", "user.exploded", state_dir=tmp_path)
    assert_one_line_error(result, 2, "unknown event type 'user.exploded': choose one of email.created, ")


def test_unreachable_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/webhooks/clerk"
    result = clerk_sync("send", "user.created", "--url", url, "--secret", SECRET, state_dir=tmp_path)
    assert_one_line_error(result, 1, f"cannot reach {url}: Connection refused")


def test_occupied_port_fails_before_starting_anything(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = clerk_sync("dev", "--port", str(port), state_dir=tmp_path)
    assert_one_line_error(result, 1, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "dev.json").exists()


@pytest.mark.parametrize("command", ["dev", "send", "dump"])
def test_every_command_has_help(command, tmp_path):
    result = clerk_sync(command, "--help", state_dir=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: clerk-sync {command}")
    assert result.stderr == ""
