"""`make sam-local` end to end: the `sam build` artifacts in SAM's emulator, on a fresh state folder.

Every bundled event type signed and posted to the `sam local start-api` URL (200, stored), a replay
(200 duplicate), a forged signature (401), a user.created whose welcome e-mail the worker sends through
`sam local start-lambda`, a user.deleted whose clean-up tombstones the user's membership, the change
feed's events of both on the local bus (the built ChangesFunction through start-lambda); then Ctrl-C,
after which no process, container or network of the stack is left (nor the dockerd it started).

It needs a container engine, or root on Debian (where the stack installs and starts one): elsewhere it
fails with the reason, unless CLERK_SYNC_SAM_LOCAL_TEST=off opts out. First and warm latencies are
written to .local/sam-local/e2e-figures.json (docs/local-development.md quotes them).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from clerk_sync_local.cli.send import SAMPLES_DIR, event_body, post, sample_types, svix_headers
from clerk_sync_local.emulator.engines import free_port
from clerk_sync_local.sam_local.docker_engine import NO_ENGINE, can_install, server_version
from cli_output import send_answers

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("clerk-sync"))
OPT_OUT_ENV = "CLERK_SYNC_SAM_LOCAL_TEST"
STARTUP_SECONDS = 900  # a fresh machine: engine install, image build, sam build
FIGURES = ROOT / ".local" / "sam-local" / "e2e-figures.json"
DOCKER0 = Path("/sys/class/net/docker0")
FORGED = "whsec_" + base64.b64encode(b"x" * 24).decode()

if os.environ.get(OPT_OUT_ENV) == "off":
    pytest.skip(f"{OPT_OUT_ENV}=off: the sam-local end-to-end test was opted out", allow_module_level=True)

pytestmark = pytest.mark.timeout(STARTUP_SECONDS + 600)


@dataclass
class SamLocal:
    """A running `make sam-local` and what it printed so far."""

    process: subprocess.Popen[str]
    state_dir: Path
    env: dict[str, str]
    had_docker0: bool  # the engine's default bridge, which a dockerd the stack starts must not leave
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.state_dir / "dev.json").read_text())
        return info

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, env=self.env, timeout=120, check=False
        )

    def send(self, *args: str) -> list[dict[str, Any]]:
        """`clerk-sync send …` (unchanged: it finds the stack through the state folder); the answers."""
        result = self.cli("send", *args)
        assert "Traceback" not in result.stderr, result.stderr
        return send_answers(result.stdout)

    def timed_post(self, kind: str) -> tuple[int, float]:
        """One signed delivery posted from here: its status and latency in ms (no CLI start-up)."""
        body, _ = event_body(kind, [], int(time.time() * 1000))
        msg_id = f"msg_latency_{time.monotonic_ns()}"
        started = time.perf_counter()
        status, _ = post(self.info["url"], body, svix_headers(self.info["secret"], msg_id, body))
        return status, (time.perf_counter() - started) * 1000

    def wait_for(self, text: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line with {text!r} in:\n{self.output}")


def require_an_engine() -> None:
    """Fail (not skip) with one line where the stack cannot run."""
    if server_version() is None and not can_install():
        pytest.fail(f"{NO_ENGINE}; or set {OPT_OUT_ENV}=off to opt out of this test", pytrace=False)


@pytest.fixture
def sam_local(tmp_path: Path) -> Iterator[SamLocal]:
    require_an_engine()
    state_dir = tmp_path / "state"
    env = {**os.environ, "CLERK_SYNC_STATE_DIR": str(state_dir), "MAKEFLAGS": ""}
    env.pop("CLERK_WEBHOOK_SIGNING_SECRET", None)
    env.pop("SENDER_EMAIL", None)
    port = free_port()
    had_docker0 = DOCKER0.exists()
    process = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "sam-local",
            f"PORT={port}",
            f"STATE_DIR={state_dir}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # Ctrl-C is sent to its group, as a terminal would
    )
    stack = SamLocal(process, state_dir, env, had_docker0)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    try:
        stack.wait_for("Started in", timeout=STARTUP_SECONDS)
        yield stack
    finally:
        if process.poll() is None:  # the test failed before its own Ctrl-C
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def stack_processes(network: str) -> list[str]:
    """Processes whose command line names this stack's network or state (sam local, dockerd's shims)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if network in command:
                found.append(f"{entry.name}: {command}")
    return found


def test_sam_local_serves_the_built_functions_and_stops_cleanly(sam_local: SamLocal, tmp_path: Path):
    started_here = "started by sam-local" in sam_local.wait_for("  Engine ")
    network = sam_local.wait_for("  Engine ").rsplit("network ", 1)[1]
    inspected = subprocess.run(
        ["docker", "network", "inspect", "--format", "{{.Id}}", network],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    bridge = Path("/sys/class/net") / f"br-{inspected.stdout.strip()[:12]}"
    assert bridge.exists()
    assert sam_local.info["url"].endswith("/webhooks/clerk") and sam_local.info["secret"] in sam_local.output

    # latency straight from here: the first request starts the container, the next ones find it warm
    status, first_ms = sam_local.timed_post("user.created")
    assert status == 200, sam_local.output
    warm = [sam_local.timed_post("session.created") for _ in range(5)]
    assert [status for status, _ in warm] == [200] * 5

    # every bundled type through `clerk-sync send`, stored as `clerk-sync dump` shows
    types = sample_types()
    answers = {answer["type"]: answer for answer in sam_local.send(*types)}
    for kind in types:
        assert (answers[kind]["http"], answers[kind]["status"]) == (200, "applied"), answers[kind]
    tables = json.loads(sam_local.cli("dump", "--json").stdout)
    users = {item["id"]: item for item in tables["users"]}
    assert users[answers["user.created"]["id"]]["first_name"] == "Ann"
    assert users[answers["user.deleted"]["id"]]["deleted"] is True
    sessions = {item["id"]: item for item in tables["sessions"]}
    assert sessions[answers["session.revoked"]["id"]]["status"] == "revoked"

    # a replay of the same svix id and body, and a forged signature
    event_file = tmp_path / "organization.json"
    event_file.write_text((SAMPLES_DIR / "organization.created.json").read_text())
    replayed = sam_local.send(str(event_file), str(event_file), "--id", "msg_sam_local_replay")
    assert [(a["http"], a["status"]) for a in replayed] == [(200, "applied"), (200, "duplicate")]
    [forged] = sam_local.send("user.created", "--secret", FORGED)
    assert forged["http"] == 401

    # the worker, through sam local start-lambda: a welcome e-mail for a new user
    [created] = sam_local.send(
        "user.created", "--set", "data.email_addresses.0.email_address=new@example.com"
    )
    user_id = created["id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        emails = json.loads(sam_local.cli("dump", "emails", "--json").stdout)["emails"]
        if any("new@example.com" in m["destinations"]["ToAddresses"] for m in emails):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no welcome e-mail to new@example.com:\n{sam_local.output}")

    # …and a user.deleted whose clean-up tombstones the user's membership
    [joined] = sam_local.send(
        "organizationMembership.created", "--set", f"data.public_user_data.user_id={user_id}"
    )
    [deleted] = sam_local.send("user.deleted", "--set", f"data.id={user_id}")
    assert (joined["status"], deleted["status"]) == ("applied", "applied")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        memberships = json.loads(sam_local.cli("dump", "--json", "memberships").stdout)["memberships"]
        live = [m for m in memberships if m.get("id") == joined["id"] and not m.get("deleted")]
        if not live:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"membership {joined['id']} still live after user.deleted:\n{sam_local.output}")
    assert "user_cleanup" in sam_local.wait_for("user_cleanup")

    # the change feed, through the built ChangesFunction: the user's creation and its membership's
    # clean-up tombstone on the local bus
    wanted = {("user.created", user_id), ("organizationMembership.deleted", joined["id"])}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        dumped = sam_local.cli("dump", "changes", "--json").stdout.splitlines()
        seen = {
            (e["detail-type"], (e["detail"]["old"] or e["detail"]["new"] or {}).get("id"))
            for e in map(json.loads, dumped)
        }
        if wanted <= seen:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no change events for {wanted}:\n{sam_local.output}")

    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "first_request_ms": round(first_ms),
        "warm_request_ms_median": round(statistics.median(ms for _, ms in warm)),
        "startup": sam_local.wait_for("Started in").split()[-2] + " s",
        "architecture": sam_local.wait_for("  Architecture ").split()[1],
    }
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")

    # Ctrl-C: a clean exit; no process, container or network of the stack left, nor its dockerd
    os.killpg(sam_local.process.pid, signal.SIGINT)
    # make itself ends by the SIGINT (-2); the stack below it says it stopped cleanly
    assert sam_local.process.wait(timeout=180) in (0, -signal.SIGINT), sam_local.output
    assert sam_local.lines[-1] == "stopped", sam_local.output
    assert not (sam_local.state_dir / "dev.json").exists()
    assert stack_processes(network) == []
    assert not bridge.exists(), f"the network {network} is still there"
    if started_here:
        assert server_version() is None, "the dockerd sam-local started is still answering"
        assert sam_local.had_docker0 or not DOCKER0.exists(), "the dockerd sam-local started left docker0"
    assert "Traceback" not in sam_local.output
