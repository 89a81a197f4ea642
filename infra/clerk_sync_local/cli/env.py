"""`clerk-sync env`: the shell lines that point application code at the running `clerk-sync dev`.

    eval "$(clerk-sync env)"

sets what `clerk_sync.read.ClerkData.from_environment()` (and any boto3 client) reads: the stack's
region and endpoints, the dummy credentials its engines accept, and every table's variable; it unsets
what would take botocore elsewhere (a profile, a session token, other services' endpoints). The stack is
found as every sub-command finds it (cli/target.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from clerk_sync.settings import TABLE_VARIABLES

from clerk_sync_local.cli.exit_codes import OK
from clerk_sync_local.cli.target import resolve
from clerk_sync_local.stack.state import NotRunningError, local_aws, state_dir


def lines(environ: Mapping[str, str], state: Path | None = None) -> list[str]:
    """`unset …` and `export NAME=value` lines for the running `clerk-sync dev`; NotRunningError if none."""
    target = resolve(environ, state=state)
    if target.dev is None:
        raise NotRunningError(state_dir(state), "give the --state-dir of the one that runs")
    variables, stale = local_aws(
        environ, target.region, target.dev.aws_endpoint, target.dev.dynamodb_endpoint
    )
    variables |= {variable: target.tables.named(name) for name, variable in TABLE_VARIABLES.items()}
    unset = [f"unset {' '.join(stale)}"] if stale else []
    return unset + [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]


def run(environ: Mapping[str, str], state: Path | None = None) -> int:
    """Print the lines (nothing when no stack runs: main prints the error's one line on stderr)."""
    print("\n".join(lines(environ, state)), flush=True)
    return OK
