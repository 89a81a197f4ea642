"""`python -m clerk_sync_local.sam_local [--port N] [--state-dir DIR] [--arch x86_64]`: what `make sam-local`
runs. Failures end in one line, `clerk-sync sam-local: error: …`, with the exit codes of exit_codes.py."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from clerk_sync_local.cli.exit_codes import FAILED, USAGE
from clerk_sync_local.cli.main import DEBUG_ENV
from clerk_sync_local.sam_local.image import ARCHITECTURES
from clerk_sync_local.sam_local.stack import ARCHITECTURE_ENV, DEFAULT_PORT, SamLocalOptions, run
from clerk_sync_local.stack.state import STATE_DIR_ENV, DevError, state_dir

PROG = "clerk-sync sam-local"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the stack; returns the exit code."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="start-api's port (default: %(default)s)"
    )
    parser.add_argument(
        "--state-dir", type=Path, help=f"state folder (default: ${STATE_DIR_ENV}, else .local/state)"
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        help=f"functions' architecture (default: ${ARCHITECTURE_ENV}, else this machine's)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        print(f"{PROG}: error: --port {args.port}: not a port number", file=sys.stderr)
        return USAGE
    options = SamLocalOptions(port=args.port, state_dir=state_dir(args.state_dir), architecture=args.arch)
    try:
        return run(options)
    except KeyboardInterrupt:
        return 130
    except DevError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"{PROG}: error: unexpected {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for a traceback)",
            file=sys.stderr,
            flush=True,
        )
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
