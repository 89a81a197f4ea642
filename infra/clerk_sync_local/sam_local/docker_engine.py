"""A container engine for SAM: the machine's Docker when it answers, else one this process starts.

On Debian as root, a missing engine is installed (`apt-get install docker.io iptables`) and a plain
`dockerd` is started on the default socket, then stopped when the stack stops. Anywhere else the stack
stops with one line saying what to install.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clerk_sync_local.stack.state import DevError

log = logging.getLogger(__name__)

DOCKER_PACKAGES = ("docker.io", "iptables")
DEBIAN_VERSION_FILE = Path("/etc/debian_version")
DEFAULT_BRIDGE = Path("/sys/class/net/docker0")
STARTUP_SECONDS = 60
STOP_SECONDS = 30
NO_ENGINE = (
    "sam-local needs a container engine and none answers (`docker info` fails): install Docker "
    "(or run as root on Debian, where sam-local installs docker.io itself)"
)


@dataclass(frozen=True)
class Engine:
    """The engine in use: its version, and whether this process started it."""

    version: str
    started_here: bool

    @property
    def description(self) -> str:
        origin = "started by sam-local, stopped with it" if self.started_here else "the machine's"
        return f"Docker {self.version} ({origin})"


def server_version() -> str | None:
    """The Docker server's version, or None when no engine answers."""
    if shutil.which("docker") is None:
        return None
    try:
        answer = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    version = answer.stdout.strip()
    return version if answer.returncode == 0 and version else None


def can_install() -> bool:
    """True where sam-local may install and start an engine itself: Debian, as root."""
    return DEBIAN_VERSION_FILE.is_file() and os.geteuid() == 0


def apt_install(packages: tuple[str, ...], log_path: Path) -> None:
    """`apt-get install` the packages (with one `apt-get update` when the first try fails)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_path.open("a", encoding="utf-8") as output:
        if subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=environment).returncode:
            subprocess.run(
                ["apt-get", "update", "-q"], stdout=output, stderr=subprocess.STDOUT, env=environment
            )
            if subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=environment).returncode:
                raise DevError(f"`apt-get install {' '.join(packages)}` failed: see {log_path}")


@contextlib.contextmanager
def docker_engine(log_dir: Path) -> Iterator[Engine]:
    """The machine's Docker, or (Debian, root) a dockerd started here and stopped on exit."""
    version = server_version()
    if version is not None:
        yield Engine(version, started_here=False)
        return
    if not can_install():
        raise DevError(NO_ENGINE)
    if shutil.which("dockerd") is None or shutil.which("iptables") is None:
        log.info("installing %s (apt-get)", " and ".join(DOCKER_PACKAGES))
        apt_install(DOCKER_PACKAGES, log_dir / "apt.log")
    had_bridge = DEFAULT_BRIDGE.exists()
    process = _start_dockerd(log_dir / "dockerd.log")
    try:
        version = _wait_for_engine(process, log_dir / "dockerd.log")
        yield Engine(version, started_here=True)
    finally:
        _stop(process)
        if not had_bridge and DEFAULT_BRIDGE.exists():  # dockerd leaves its docker0 behind
            subprocess.run(["ip", "link", "delete", DEFAULT_BRIDGE.name], capture_output=True, check=False)


def _start_dockerd(log_path: Path) -> subprocess.Popen[bytes]:
    log.info("starting dockerd (its log: %s)", log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output:
        return subprocess.Popen(
            [shutil.which("dockerd") or "dockerd"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its containerd goes with it
        )


def _wait_for_engine(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        version = server_version()
        if version is not None:
            return version
        if process.poll() is not None:
            raise DevError(f"dockerd exited with code {process.returncode} while starting: see {log_path}")
        if time.monotonic() > deadline:
            raise DevError(f"dockerd did not answer within {STARTUP_SECONDS} s: see {log_path}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (dockerd stops its containerd too), then SIGKILL to the group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of its group still there (containerd-shims)
