"""The change feed through `clerk-sync dev`, end to end on each backend: a delivery sent with
`clerk-sync send` is written, read from the table's stream by the local stream mapping, published by
the real ChangesFunction to the local bus, and listed by `clerk-sync dump changes` as the bus received it.
ChangesFailedQueue is then empty: `clerk-sync changes republish` has nothing to do. With
CHANGE_FEED=false the banner says the feed is off, and `dump changes` and `changes republish` refuse
with one line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clerk_sync_local.stack.functions import function_specs
from clerk_sync_local.stack.stream_worker import IDLE_SECONDS
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from test_dev_stack import DevStack, start

SLACK_SECONDS = 30.0  # the engines and the function on a busy 2-core machine, at worst
_USERS = function_specs(load_template(TEMPLATE_PATH), TEMPLATE_PATH.parent)["ChangesFunction"].events["Users"]
# From a write to its event on the bus: the next read of the stream, the template's batching window, the
# function's invocation (its PutEvents), plus the slack.
FEED_SECONDS = IDLE_SECONDS + float(_USERS["Properties"]["MaximumBatchingWindowInSeconds"]) + SLACK_SECONDS


@pytest.fixture(params=["moto", "dynamodb-local"])
def dev(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DevStack]:
    stack = start(tmp_path, request.param)
    yield stack
    stack.process.kill()
    stack.process.wait()


def sent(stack: DevStack, *args: str) -> tuple[str, dict[str, Any]]:
    """`clerk-sync send` one event: its svix id and the receiver's answer."""
    result, [answer] = stack.send(*args)
    assert result.returncode == 0 and answer["status"] == "applied", result.stdout + result.stderr
    return result.stdout.splitlines()[0].split()[-1], answer


def changes_when(stack: DevStack, ready: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """`clerk-sync dump changes --json` once `ready` holds for its events (within FEED_SECONDS)."""
    deadline = time.monotonic() + FEED_SECONDS
    while True:
        dumped = stack.cli("dump", "changes", "--json")
        assert dumped.returncode == 0, dumped.stderr
        events = [json.loads(line) for line in dumped.stdout.splitlines()]
        if ready(events):
            return events
        assert time.monotonic() < deadline, (
            f"no such events within {FEED_SECONDS:.0f} s: {events}\n{stack.output}"
        )
        time.sleep(0.2)


def test_a_delivery_becomes_an_event_on_the_local_bus_and_dump_changes_lists_it(dev: DevStack):
    banner = dev.wait_for_line("  Change feed  ")
    assert "on: ChangesFunction reading the streams of 13 tables" in banner
    assert "events on bus clerk-sync-changes" in banner and "clerk-sync dump changes" in banner
    info = json.loads((dev.state_dir / "dev.json").read_text())
    assert (info["changes_bus"], info["changes_log_group"]) == (
        "clerk-sync-changes",
        "/clerk-sync/local/clerk-sync-changes",
    )
    assert info["changes_failed_queue_url"].endswith("/clerk-sync-changes-failed")
    assert info["change_detail"] == "full"  # what `changes republish` publishes with, as the function

    svix_id, answer = sent(dev, "user.created")
    user_id = answer["id"]
    [event] = changes_when(dev, lambda events: len(events) >= 1)
    assert (event["source"], event["detail-type"]) == ("clerk-sync", "user.created")
    assert {"id", "time", "region", "resources", "detail"} <= set(event)
    detail = event["detail"]
    assert (detail["entity"], detail["change"], detail["table"]) == ("user", "created", "users")
    assert detail["key"] == {"id": user_id} and detail["written_by"] == svix_id
    assert (detail["previous_version"], detail["old"], detail["omitted"]) == (None, None, [])
    stored = json.loads(dev.cli("dump", "users", "--json").stdout)["users"]
    [user] = [item for item in stored if item["id"] == user_id]
    assert detail["version"] == user["version"]
    # the record as the read library has it, Clerk's complete object included (a binary attribute in the
    # stream: base64 text in what Lambda hands the function)
    assert detail["new"]["email"] == user["email"] and detail["new"]["clerk"]["id"] == user_id
    assert "svix_id" not in detail["new"] and detail["changed"]
    assert "1 record (INSERT): 1 done" in dev.wait_for_line("stream Users")

    # an update: its own event after the first, naming the version it replaced and what changed
    update_id, _ = sent(
        dev, "user.updated", "--set", f"data.id={user_id}", "--set", "data.first_name=Ann-Marie"
    )
    events = changes_when(dev, lambda events: len(events) >= 2)
    assert [e["detail-type"] for e in events] == ["user.created", "user.updated"]
    updated = events[1]["detail"]
    assert updated["previous_version"] == detail["version"] and updated["written_by"] == update_id
    assert updated["old"]["first_name"] == detail["new"]["first_name"] != "Ann-Marie"
    assert updated["new"]["first_name"] == "Ann-Marie" and "first_name" in updated["changed"]

    listed = dev.cli("dump", "changes")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "changes (2)" and lines[1].split() == [
        "time", "(UTC)", "detail-type", "key", "version", "(UTC)", "written_by",
    ]  # fmt: skip
    assert "user.created" in lines[2] and f"id={user_id}" in lines[2] and lines[2].endswith(svix_id)
    assert "user.updated" in lines[3] and lines[3].endswith(update_id)
    mixed = dev.cli("dump", "changes", "users")
    assert mixed.returncode == 2 and "`changes` is dumped alone" in mixed.stderr
    # everything was published: ChangesFailedQueue holds nothing to re-publish
    republished = dev.cli("changes", "republish")
    assert (republished.returncode, republished.stderr) == (0, ""), republished.stdout
    assert republished.stdout.splitlines()[1:] == ["no messages: nothing to re-publish"]


def test_with_the_feed_off_the_banner_says_so_and_dump_changes_refuses(tmp_path: Path):
    stack = start(tmp_path, "moto", environ={"CHANGE_FEED": "false"})
    try:
        banner = stack.wait_for_line("  Change feed  ")
        assert banner.endswith(
            "off (CHANGE_FEED=false): no streams, no bus, no ChangesFunction; unset CHANGE_FEED to turn it on"
        )
        assert "clerk-sync dump changes" not in stack.output and "stream " not in stack.output
        info = json.loads((stack.state_dir / "dev.json").read_text())
        assert (info["changes_bus"], info["changes_log_group"]) == ("", "")
        refused = stack.cli("dump", "changes")
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith(
            "clerk-sync: error: the running `clerk-sync dev` has the change feed off"
        )
        assert len(refused.stderr.splitlines()) == 1
        assert stack.cli("dump", "users").returncode == 0
        republish = stack.cli("changes", "republish")
        assert republish.returncode == 1 and "has the change feed off" in republish.stderr
    finally:
        stack.process.kill()
        stack.process.wait()
