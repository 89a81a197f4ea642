"""Bad input to `clerk-sync`: one line on stderr, a non-zero exit code, never a traceback; the exit
codes of every sub-command (docs/local-development.md); `send --set/--add/--print`; the help texts."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import dev_state
import pytest
from clerk_sync.adapters.clerk.listings import LISTINGS, Absence
from clerk_sync.domain.event_types import EVENT_TYPES
from clerk_sync_local.cli import backfill, dump, exit_codes
from clerk_sync_local.cli.main import build_parser, main
from clerk_sync_local.cli.send import sample_types
from clerk_sync_local.emulator.engines import free_port

CLI = str(Path(sys.executable).with_name("clerk-sync"))
CHANGES_VARIABLES = ("CHANGES_FAILED_QUEUE_URL", "CHANGES_BUS_NAME", "CHANGE_DETAIL")
SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"


def clerk_sync(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLERK_SYNC_STATE_DIR": str(state_dir)}
    for name in ("CLERK_WEBHOOK_SIGNING_SECRET", "CLERK_SECRET_KEY", "AWS_ENDPOINT_URL", *CHANGES_VARIABLES):
        env.pop(name, None)
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
        (["send", "user.created", "--set", "data.frist_name=Zed"], 2, "did you mean data.first_name?"),
        (["send", "user.created", "--set", "nosuch.deep.path=1"], 2, "--add nosuch.deep.path=1"),
        (["send", "user.created", "--add", "data.first_name=Zed"], 2, "exists already"),
        (["send", "user.created"], 4, "no running `clerk-sync dev` found"),
        (["send", "user.created", "--url", "http://127.0.0.1:1/", "--secret", "hunter2"], 2, "whsec_"),
        (["send", "user.created", "--url", "localhost:3000", "--secret", SECRET], 2, "bad URL"),
        (["dump"], 4, "no running `clerk-sync dev` found"),
        (["emails", "unconfirmed"], 4, "no running `clerk-sync dev` found"),
        (["sms", "unconfirmed"], 4, "no running `clerk-sync dev` found"),
        (["sms", "resend", "deliver_sms#msg_1#sms_1"], 4, "no running `clerk-sync dev` found"),
        (["dump", "accounts"], 2, "unknown table 'accounts'"),
        (["dump", "changes"], 4, "no running `clerk-sync dev` found"),
        (["dump", "users", "changes"], 2, "`changes` is dumped alone"),
        (["changes", "republish"], 4, "no running `clerk-sync dev` found"),
        (["changes"], 2, "the following arguments are required: action"),
        (["changes", "resend"], 2, "invalid choice: 'resend'"),
        (["changes", "republish", "--retry-for", "0"], 2, "--retry-for 0: give a number of seconds above 0"),
        (["changes", "republish", "--endpoint", "http://127.0.0.1:1"], 2, "pass --queue-url or set CHANGES_"),
        (["changes", "republish", "--aws"], 2, "set CHANGES_FAILED_QUEUE_URL (the stack's output"),
        (["changes", "republish", "--aws", "--queue-url", "https://sqs.x/1/q"], 2, "set CHANGES_BUS_NAME"),
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
    for name in ("CLERK_WEBHOOK_SIGNING_SECRET", *CHANGES_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    returncode = main([arg.replace("{tmp}", str(tmp_path)) for arg in args])
    out, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess(args, returncode, out, err), code, fragment)


def test_changes_republish_on_a_dev_stack_without_the_feed_says_so(tmp_path, capsys):
    dev_state.publish(tmp_path)  # a running stack (this process) whose dev.json names no feed
    returncode = main(["changes", "republish", "--state-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], returncode, out, err), 1, "the change feed off")
    assert "restart it without CHANGE_FEED=false" in err


def test_changes_republish_on_aws_needs_the_stacks_change_detail(capsys, monkeypatch, tmp_path):
    """A guess could publish records to a bus the stack keeps free of them (ChangeDetail keys)."""
    monkeypatch.setenv("CLERK_SYNC_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHANGES_FAILED_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/q")
    monkeypatch.setenv("CHANGES_BUS_NAME", "clerk-sync-changes")
    monkeypatch.delenv("CHANGE_DETAIL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    returncode = main(["changes", "republish", "--aws"])
    out, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], returncode, out, err), 2, "set CHANGE_DETAIL to")
    monkeypatch.setenv("CHANGE_DETAIL", "keyz")
    returncode = main(["changes", "republish", "--aws", "--dry-run"])
    out, err = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess([], returncode, out, err), 2, "CHANGE_DETAIL must be")


def test_unknown_event_type(tmp_path):
    result = clerk_sync("send", "user.exploded", state_dir=tmp_path)
    assert_one_line_error(result, 2, "unknown event type 'user.exploded': choose one of email.created, ")


def test_unreachable_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/webhooks/clerk"
    result = clerk_sync("send", "user.created", "--url", url, "--secret", SECRET, state_dir=tmp_path)
    assert_one_line_error(result, 1, f"cannot reach {url}: Connection refused")


def test_occupied_port_fails_before_starting_anything_and_leaves_no_state(tmp_path):
    state = tmp_path / "new-state"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = clerk_sync("dev", "--port", str(port), state_dir=state)
    assert_one_line_error(result, 1, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "`make dev PORT=N`" in result.stderr
    assert time.monotonic() - started < 10
    assert not state.exists()  # no signing-secret, no dev.json: nothing of a start that failed


def test_a_start_that_fails_after_listening_keeps_no_signing_secret(tmp_path):
    state = tmp_path / "new-state"
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = clerk_sync("dev", "--port", "0", "--aws-endpoint", unreachable, state_dir=state)
    assert_one_line_error(result, 1, f"cannot provision the template's tables and queues at {unreachable}")
    assert not state.exists()


def test_send_print_shows_the_payload_with_set_and_add_applied(capsys, tmp_path, monkeypatch):
    """No running stack needed; --set values follow the one rule: JSON when it parses, else text."""
    monkeypatch.setenv("CLERK_SYNC_STATE_DIR", str(tmp_path))
    args = ["send", "user.created", "--print", "--set", "data.first_name=Zed", "--set", "data.username=123"]
    args += ["--set", 'data.last_name="123"', "--add", "data.public_metadata.plan.tier=pro"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert (data["first_name"], data["username"], data["last_name"]) == ("Zed", 123, "123")
    assert data["public_metadata"]["plan"] == {"tier": "pro"}
    assert main(["send", "organizationMembership.created", "--print"]) == 0
    membership = json.loads(capsys.readouterr().out)
    assert membership["data"]["public_user_data"]["user_id"].startswith("user_2")


def subcommands() -> list[str]:
    parser = build_parser()
    [commands] = [action for action in parser._actions if action.dest == "command"]
    return sorted(commands.choices)  # type: ignore[arg-type]


def test_the_subcommands_are_the_known_eight():
    assert subcommands() == ["backfill", "changes", "dev", "dump", "emails", "env", "send", "sms"]


@pytest.mark.parametrize("command", [[], *([name] for name in subcommands())])
def test_every_help_is_complete_with_an_example(command, tmp_path):
    result = clerk_sync(*command, "--help", state_dir=tmp_path)
    assert result.returncode == exit_codes.OK and result.stderr == ""
    assert result.stdout.startswith(" ".join(["usage: clerk-sync", *command]))
    examples = result.stdout.split("\nexamples:\n", 1)
    assert len(examples) == 2 and examples[1].startswith("  "), result.stdout
    assert "clerk-sync " + (command[0] if command else "") in examples[1]
    assert "see below" not in result.stdout


def test_send_help_lists_every_sample_and_every_handled_type_has_one(tmp_path):
    """The README's promise: a signed sample for every event type the receiver handles, each named at
    the end of `clerk-sync send --help`."""
    result = clerk_sync("send", "--help", state_dir=tmp_path)
    listed = re.findall(r"[A-Za-z]+\.[A-Za-z]+", result.stdout.split("\nevent types: ", 1)[1])
    assert listed == sample_types()
    assert sorted(set(EVENT_TYPES) - set(sample_types())) == []


# The table of docs/local-development.md, "Exit codes": each sub-command, each code it can end with.
NOT_RUNNING, USAGE, FAILED = exit_codes.NOT_RUNNING, exit_codes.USAGE, exit_codes.FAILED
EXIT_CASES = [
    (["dev", "--port", "-1"], USAGE),
    (["dev", "--no-such-flag"], USAGE),
    (["send", "user.created"], NOT_RUNNING),
    (["send", "user.created", "--url", "{unreachable}/webhooks/clerk", "--secret", SECRET], FAILED),
    (["send", "--no-such-flag", "user.created"], USAGE),
    (["dump"], NOT_RUNNING),
    (["dump", "emails"], NOT_RUNNING),
    (["dump", "--endpoint", "{unreachable}"], FAILED),
    (["dump", "changes", "--endpoint", "{unreachable}"], FAILED),
    (["dump", "accounts"], USAGE),
    (["emails", "resend", "welcome_email#msg_1#user_1"], NOT_RUNNING),
    (["emails", "unconfirmed"], NOT_RUNNING),
    (["sms", "unconfirmed", "--json"], NOT_RUNNING),
    (["emails", "resend"], USAGE),
    (["env"], NOT_RUNNING),
    (["env", "--no-such-flag"], USAGE),
    (["emails", "unconfirmed", "KEY"], USAGE),
    (["backfill", "--workers", "0"], USAGE),
    (["backfill", "--kinds", "users,accounts"], USAGE),
    (["backfill"], USAGE),  # CLERK_SECRET_KEY unset
    (["changes", "republish"], NOT_RUNNING),
    (["changes", "republish", "--dry-run"], NOT_RUNNING),
    (["changes", "republish", "--endpoint", "{unreachable}", "--queue-url", "{unreachable}/0/q"], FAILED),
    (["changes", "republish", "--aws"], USAGE),  # CHANGES_FAILED_QUEUE_URL unset
    (["changes", "publish"], USAGE),
]


@pytest.mark.parametrize(("args", "code"), EXIT_CASES, ids=[" ".join(args) for args, _ in EXIT_CASES])
def test_every_subcommand_follows_the_exit_code_table(args, code, tmp_path):
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = clerk_sync(*(arg.replace("{unreachable}", unreachable) for arg in args), state_dir=tmp_path)
    assert_one_line_error(result, code, "")


def test_the_exit_code_table_is_the_documented_one():
    docs = (Path(__file__).parents[2] / "docs" / "local-development.md").read_text()
    section = docs.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| `(\d)` \|", section, re.MULTILINE)}
    defined = {value for name, value in vars(exit_codes).items() if name.isupper()}
    assert documented == defined == {0, 1, 2, 3, 4}


def subparser(name: str) -> argparse.ArgumentParser:
    [commands] = [action for action in build_parser()._actions if action.dest == "command"]
    return commands.choices[name]  # type: ignore[index]


def option_help(command: str, dest: str) -> str:
    [action] = [action for action in subparser(command)._actions if action.dest == dest]
    return str(action.help)


def test_dump_help_names_every_synced_table_a_plain_dump_shows():
    named = set(re.findall(r"[a-z_]+", option_help("dump", "tables").split(";")[0]))
    assert named - {"a", "synced", "table"} == set(dump.TABLES)


def test_backfill_help_names_the_kinds_reconcile_leaves_alone_and_only_those():
    named = set(re.findall(r"[a-z_]+", option_help("backfill", "reconcile"))) & set(backfill.SYNCED)
    assert named == {table.value for table, kind in LISTINGS.items() if kind.absence is Absence.NONE}
