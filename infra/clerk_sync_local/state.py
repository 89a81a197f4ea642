"""What `clerk-sync dev` keeps in its state folder, and how `send` and `dump` find a running stack.

- the folder itself (`--state-dir`, else $CLERK_SYNC_STATE_DIR, else .local/state beside the template);
- `dev.json`: how to reach the running stack (ConnectionInfo), removed when it stops;
- `signing-secret`: the secret generated on first use when $CLERK_WEBHOOK_SIGNING_SECRET is unset.

Also DevError, the one error the stack's modules raise when it cannot start.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from clerk_sync.config import SECRET_ENV, SECRET_PREFIX, ConfigError, parse_signing_secrets

from clerk_sync_local.template import TEMPLATE_PATH

STATE_DIR_ENV = "CLERK_SYNC_STATE_DIR"
DEFAULT_STATE_DIR = TEMPLATE_PATH.parent / ".local" / "state"
CONNECTION_FILE = "dev.json"
SECRET_FILE = "signing-secret"
DEFAULT_REGION = "us-east-1"


class DevError(Exception):
    """The local stack cannot start; the message says why and what to do."""

    exit_code = 1


def state_dir(given: Path | None = None) -> Path:
    """The local state folder: `given`, else $CLERK_SYNC_STATE_DIR, else .local/state beside the template."""
    return given or Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


# --- what a running stack publishes ----------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionInfo:
    """How to reach a running `clerk-sync dev`: written to <state>/dev.json for `send` and `dump`."""

    url: str
    secret: str
    region: str
    aws_endpoint: str
    dynamodb_endpoint: str
    tables: dict[str, str]  # configuration variable (USERS_TABLE, …) -> table name
    queue_url: str
    dead_letter_queue_url: str
    pid: int
    sender_email: str = ""  # the worker's SENDER_EMAIL ("": e-mails are skipped)

    def save(self, directory: Path) -> Path:
        """Write dev.json (readable by the owner only: it holds the signing secret)."""
        path = directory / CONNECTION_FILE
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> ConnectionInfo | None:
        """The published connection, or None when no stack has published one there."""
        try:
            return cls(**json.loads((directory / CONNECTION_FILE).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise DevError(f"{directory / CONNECTION_FILE} is unreadable ({error}): delete it") from None

    def running(self) -> bool:
        """True while the process that published this is alive."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def signing_secret(environ: Mapping[str, str], directory: Path) -> tuple[str, str]:
    """The secret to verify with and where it came from: $CLERK_WEBHOOK_SIGNING_SECRET, else one kept
    in <state>/signing-secret (generated on first use)."""
    given = environ.get(SECRET_ENV)
    path = directory / SECRET_FILE
    if given:
        secret, origin = given, f"from ${SECRET_ENV}"
    elif path.is_file():
        secret, origin = path.read_text(encoding="utf-8").strip(), f"kept in {shown(path)}"
    else:
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
        write_private(path, secret + "\n")
        origin = f"generated, kept in {shown(path)}"
    try:
        parse_signing_secrets(secret)
    except ConfigError as error:
        raise DevError(f"{error} ({origin})") from None
    return secret, origin


def shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
