"""Side-effect messages as the worker reads them: validated, typed, or refused as poison."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class PoisonMessageError(Exception):
    """A message that no retry can make valid (unknown kind, not JSON, missing fields)."""


@dataclass(frozen=True)
class Position:
    """Where a clean-up part starts: its phase, and the exclusive start key of that phase's query
    (the table and index keys of the last item tombstoned before; None: the phase's beginning)."""

    phase: str
    start_key: dict[str, str] | None = None


# clean-up kind -> its phases, in order (a continuation message names the one it resumes)
PHASES: dict[str, tuple[str, ...]] = {
    "user_cleanup": ("memberships", "sessions"),
    "organization_cleanup": ("memberships",),
}


@dataclass(frozen=True)
class EffectMessage:
    """One queued effect: its kind, the delivery that caused it, its target and its fields."""

    kind: str
    svix_id: str
    target: str
    fields: dict[str, Any]
    queued: str = ""
    """The message body as it was queued (what a resend of an unconfirmed e-mail sends again)."""

    @property
    def key(self) -> str:
        """The effect's idempotency key: kind + svix id + target (+ part, for a clean-up's continuations)."""
        base = effect_key(self.kind, self.svix_id, self.target)
        return base if self.part == 1 else f"{base}#part{self.part}"

    @property
    def spilled(self) -> Any:
        """The reference to a body too large for SQS (payloads.PayloadStore), or None."""
        return self.fields.get("spilled")

    @property
    def part(self) -> int:
        """1 for the message the receiver queued, N for the continuation the worker sent after part N-1."""
        value = self.fields.get("part")
        return value if isinstance(value, int) else 1

    @property
    def position(self) -> Position:
        """Where this part of a clean-up starts."""
        if self.part == 1:
            return Position(PHASES[self.kind][0])
        return Position(self.fields["phase"], self.fields.get("start_key"))

    def text(self, name: str) -> str | None:
        """A string field, or None when absent or not a non-empty string."""
        value = self.fields.get(name)
        return value if isinstance(value, str) and value else None


def effect_key(kind: str, svix_id: str, target: str) -> str:
    """An effect's idempotency key: kind + svix id + target."""
    return f"{kind}#{svix_id}#{target}"


# kind -> (field naming the target, fields that must be non-empty strings)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "welcome_email": ("user_id", ()),
    "user_cleanup": ("user_id", ()),
    "organization_cleanup": ("organization_id", ()),
    "deliver_email": ("email_id", ("to_email_address", "subject")),
}


def parse_message(body: str) -> EffectMessage:
    """Validate a message body; raises PoisonMessageError with a reason that names no personal data."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise PoisonMessageError("body is not JSON") from None
    if not isinstance(data, dict):
        raise PoisonMessageError("body is not a JSON object")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise PoisonMessageError(f"unknown kind {kind!r}"[:80])
    target_field, required = KINDS[kind]
    if "spilled" in data:  # a reference: the fields are checked once the body is loaded
        required = ()
    missing = [
        name
        for name in ("svix_id", target_field, *required)
        if not isinstance(data.get(name), str) or not data.get(name)
    ]
    if missing:
        raise PoisonMessageError(f"{kind} without {', '.join(missing)}")
    if "part" in data:
        _check_continuation(kind, data)
    return EffectMessage(
        kind=kind, svix_id=data["svix_id"], target=data[target_field], fields=data, queued=body
    )


def _check_continuation(kind: str, data: dict[str, Any]) -> None:
    """A continuation's part number, phase and start key, as the worker writes them."""
    part, start_key = data.get("part"), data.get("start_key")
    if kind not in PHASES:
        raise PoisonMessageError(f"{kind} with a part number")
    if not isinstance(part, int) or isinstance(part, bool) or part < 2:
        raise PoisonMessageError(f"{kind} with part {part!r}"[:80])
    if data.get("phase") not in PHASES[kind]:
        raise PoisonMessageError(f"{kind} with an unknown phase")
    if start_key is not None and not (
        isinstance(start_key, dict)
        and start_key
        and all(isinstance(v, str) and v for v in start_key.values())
    ):
        raise PoisonMessageError(f"{kind} with a malformed start key")
