"""The Makefile as a newcomer types it: `make dev` options, and installs that stay quiet unless they fail."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUIETLY = ROOT / "infra" / "quietly"


def make_dry_run(*args: str, **environ: str) -> str:
    """The last command `make -n` would run (the earlier ones are installs, when out of date)."""
    env = {**os.environ, "MAKEFLAGS": "", **environ}
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def test_make_dev_passes_port_backend_host_and_state_dir_to_clerk_sync_dev():
    line = make_dry_run("dev", "PORT=3001", "BACKEND=dynamodb-local", "HOST=0.0.0.0", "STATE_DIR=/tmp/other")
    options = "--port 3001 --backend dynamodb-local --host 0.0.0.0 --state-dir /tmp/other"
    assert line == f".venv/bin/clerk-sync dev {options}"
    assert make_dry_run("dev") == ".venv/bin/clerk-sync dev"
    # only make's command line counts: a PORT or HOST exported for something else is not an option
    assert make_dry_run("dev", PORT="8080", HOST="example") == ".venv/bin/clerk-sync dev"


def test_quietly_shows_nothing_when_the_command_succeeds(tmp_path):
    log = tmp_path / "logs" / "install.log"
    result = subprocess.run(
        ["sh", str(QUIETLY), str(log), "sh", "-c", "echo WARNING: noise; echo more noise >&2"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert log.read_text() == "WARNING: noise\nmore noise\n"


def test_quietly_shows_the_output_and_keeps_the_status_when_the_command_fails(tmp_path):
    log = tmp_path / "install.log"
    result = subprocess.run(
        ["sh", str(QUIETLY), str(log), "sh", "-c", "echo resolving; echo 'ERROR: no such wheel' >&2; exit 3"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.startswith("resolving\nERROR: no such wheel\n")
    assert f"failed with exit status 3 (its output is above, and in {log})" in result.stderr
