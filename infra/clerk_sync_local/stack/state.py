"""What `clerk-sync dev` keeps in its state folder, and how `send` and `dump` find a running stack.

- the folder itself (`--state-dir`, else $CLERK_SYNC_STATE_DIR, else .local/state beside the template);
- `dev.json`: how to reach the running stack (ConnectionInfo), removed when it stops;
- `signing-secret`: the secret generated on first use when $CLERK_WEBHOOK_SIGNING_SECRET is unset,
  written once the stack is up;

and the AWS variables that point a process at the stack's engines (`local_aws`): the functions'
container sets them, `clerk-sync env` prints them for application code.

Also DevError, the one error the stack's modules raise when it cannot start, and NotRunningError,
what `send`, `dump` and `emails` raise when they find no running stack.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from clerk_sync.settings import (
    ACCESS_KEY_ENV,
    DEFAULT_REGION_ENV,
    DYNAMODB_ENDPOINT_ENV,
    ENDPOINT_ENV,
    REGION_ENV,
    SECRET_ACCESS_KEY_ENV,
    SECRET_ENV,
    SECRET_PREFIX,
    ConfigError,
    aws_region,
    parse_signing_secrets,
)

from clerk_sync_local.cli.exit_codes import FAILED, NOT_RUNNING
from clerk_sync_local.stack.template import TEMPLATE_PATH

STATE_DIR_ENV = "CLERK_SYNC_STATE_DIR"
DEFAULT_STATE_DIR = TEMPLATE_PATH.parent / ".local" / "state"
CONNECTION_FILE = "dev.json"
SECRET_FILE = "signing-secret"
DEFAULT_REGION = "us-east-1"
LOCAL_KEY = "test"  # access key id and secret for the local engines, which accept any
# botocore variables that would take a process elsewhere than the local engines
OVERRIDING_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
DEFAULT_BUS_NAME = "clerk-sync-changes"  # the change feed's bus, locally (CHANGES_BUS_NAME changes it)
LOG_GROUP_PREFIX = "/clerk-sync/local/"  # + the bus's name: where its catch-all rule keeps the events


def changes_log_group(bus: str) -> str:
    """The log group in which the local catch-all rule of bus `bus` keeps every event it received."""
    return LOG_GROUP_PREFIX + bus


def local_region(environ: Mapping[str, str]) -> str:
    """The region a local stack uses: the one set in `environ` (settings.aws_region), else DEFAULT_REGION."""
    return aws_region(environ) or DEFAULT_REGION


class DevError(Exception):
    """The local stack cannot start; the message says why and what to do."""

    exit_code = FAILED


class NotRunningError(Exception):
    """No running `clerk-sync dev` publishes its connection in the state folder."""

    exit_code = NOT_RUNNING

    def __init__(self, directory: Path, alternative: str) -> None:
        super().__init__(
            f"no running `clerk-sync dev` found (no live {directory / CONNECTION_FILE}): start one with "
            f"`make dev`, or {alternative}"
        )


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
    tables: dict[str, str]  # each table's variable (domain/tables.py) -> table name
    queue_url: str
    dead_letter_queue_url: str
    pid: int
    sender_email: str = ""  # the worker's SENDER_EMAIL ("": e-mails are skipped)
    changes_bus: str = ""  # the change feed's bus ("": the feed is off)
    changes_log_group: str = ""  # where the local catch-all rule keeps the bus's events
    changes_failed_queue_url: str = ""  # the stream mappings' on-failure queue
    change_detail: str = ""  # the ChangesFunction's CHANGE_DETAIL (full or keys; "": the feed is off)

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

    @classmethod
    def load_running(cls, directory: Path) -> ConnectionInfo | None:
        """The connection of the stack running there; None when none is (or its process has died)."""
        info = cls.load(directory)
        return info if info is not None and info.running() else None

    def running(self) -> bool:
        """True while the process that published this is alive."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def local_aws(
    environ: Mapping[str, str], region: str, aws_endpoint: str, dynamodb_endpoint: str
) -> tuple[dict[str, str], list[str]]:
    """botocore's variables that point a process at local engines: those to set (region, endpoints,
    dummy credentials), and those of `environ` to unset (a profile, a session token, other services'
    endpoints)."""
    stale = [
        name
        for name in environ
        if name in OVERRIDING_VARIABLES
        or (name.startswith(f"{ENDPOINT_ENV}_") and name != DYNAMODB_ENDPOINT_ENV)
    ]
    variables = {
        ACCESS_KEY_ENV: LOCAL_KEY,
        SECRET_ACCESS_KEY_ENV: LOCAL_KEY,
        REGION_ENV: region,
        DEFAULT_REGION_ENV: region,
        ENDPOINT_ENV: aws_endpoint,
        DYNAMODB_ENDPOINT_ENV: dynamodb_endpoint,
    }
    return variables, sorted(stale)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


@dataclass(frozen=True)
class SigningSecret:
    """The secret to verify with, where it came from, and whether it is new (not yet on disk)."""

    value: str
    origin: str
    path: Path
    new: bool = False

    def keep(self) -> None:
        """Write a generated secret to <state>/signing-secret: once the stack is up, so that a failed
        start leaves no file behind."""
        if self.new:
            write_private(self.path, self.value + "\n")


def signing_secret(environ: Mapping[str, str], directory: Path) -> SigningSecret:
    """$CLERK_WEBHOOK_SIGNING_SECRET, else the one kept in <state>/signing-secret, else a new one
    (written by SigningSecret.keep)."""
    given = environ.get(SECRET_ENV)
    path = directory / SECRET_FILE
    if given:
        secret = SigningSecret(given, f"from ${SECRET_ENV}", path)
    elif path.is_file():
        secret = SigningSecret(path.read_text(encoding="utf-8").strip(), f"kept in {shown(path)}", path)
    else:
        value = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
        secret = SigningSecret(value, f"generated, kept in {shown(path)}", path, new=True)
    try:
        parse_signing_secrets(secret.value)
    except ConfigError as error:
        raise DevError(f"{error} ({secret.origin})") from None
    return secret


def shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
