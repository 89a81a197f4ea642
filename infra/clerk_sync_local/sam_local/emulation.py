"""Running the other architecture's containers: Debian's qemu-user-static, registered with binfmt_misc.

The template deploys arm64. On an x86_64 machine its containers run under qemu, about twelve times
slower than natively (docs/local-development.md): the stack then serves x86_64 by default and arm64
only when asked (ARCH=arm64), with the functions' timeouts stretched by TIMEOUT_FACTOR.
"""

from __future__ import annotations

import logging
import platform
import subprocess
from pathlib import Path

from clerk_sync_local.sam_local.docker_engine import apt_install, can_install
from clerk_sync_local.stack.state import DevError

log = logging.getLogger(__name__)

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU = {"arm64": "aarch64", "x86_64": "x86_64"}  # Lambda's architecture -> qemu's name
TIMEOUT_FACTOR = 15  # an emulated cold start took ≈12 × the native one (≈11 s for the webhook's imports)


def host_architecture() -> str:
    """This machine's architecture, as Lambda names it (arm64 or x86_64)."""
    machine = platform.machine().lower()
    return (
        "arm64"
        if machine in ("aarch64", "arm64")
        else "x86_64"
        if machine in ("x86_64", "amd64")
        else machine
    )


def ensure_emulation(architecture: str, log_dir: Path) -> bool:
    """Make `architecture`'s binaries runnable here; True when that needs emulation."""
    if architecture == host_architecture():
        return False
    entry = BINFMT / f"qemu-{QEMU[architecture]}"
    if _enabled(entry):
        return True
    if not can_install():
        raise DevError(
            f"{architecture} containers need qemu-user-static registered with binfmt_misc ({entry}): "
            "install qemu-user-static, or leave ARCH unset"
        )
    config = Path(f"/usr/lib/binfmt.d/qemu-{QEMU[architecture]}.conf")
    if not config.is_file():
        log.info("installing qemu-user-static (apt-get)")
        apt_install(("qemu-user-static",), log_dir / "apt.log")
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
    if not entry.exists():
        line = config.read_text(encoding="utf-8").strip().splitlines()[0]
        (BINFMT / "register").write_text(line + "\n", encoding="utf-8")
    if not _enabled(entry):
        raise DevError(f"cannot register qemu-{QEMU[architecture]} with binfmt_misc ({entry})")
    log.info(
        "qemu-%s registered with binfmt_misc: %s containers run emulated", QEMU[architecture], architecture
    )
    return True


def _enabled(entry: Path) -> bool:
    try:
        return entry.read_text(encoding="utf-8").splitlines()[0] == "enabled"
    except (OSError, IndexError):
        return False
