"""The side-effect message format, declared once: each kind's target, required fields, queue delay,
worker task and (clean-ups) phases; the builders the event-type functions use; the parser the worker
uses.

Producer (domain/entities/*), queue (adapters/sqs.py) and consumer (app/effects_worker.py) all read
`EFFECT_KINDS`: a kind is added here or nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict, cast

from clerk_sync.domain.envelope import Event
from clerk_sync.domain.tables import Table, children_of


class WelcomeEmail(TypedDict):
    """`welcome_email`: greet a new user (the worker skips users without an address)."""

    kind: Literal["welcome_email"]
    svix_id: str
    user_id: str
    email: str | None
    first_name: str | None


class UserCleanup(TypedDict):
    """`user_cleanup`: tombstone a deleted user's records in other tables. A continuation (part 2 and
    later, sent by the worker) adds where it resumes: `part`, `phase`, `start_key`."""

    kind: Literal["user_cleanup"]
    svix_id: str
    user_id: str
    deleted_at: int
    part: NotRequired[int]
    phase: NotRequired[str]
    start_key: NotRequired[dict[str, str] | None]


class OrganizationCleanup(TypedDict):
    """`organization_cleanup`: tombstone a deleted organization's records in other tables (continuations
    as for `UserCleanup`)."""

    kind: Literal["organization_cleanup"]
    svix_id: str
    organization_id: str
    deleted_at: int
    part: NotRequired[int]
    phase: NotRequired[str]
    start_key: NotRequired[dict[str, str] | None]


class DeliverEmail(TypedDict):
    """`deliver_email`: send a Clerk e-mail the application took over (`body`: HTML, `body_plain`: text)."""

    kind: Literal["deliver_email"]
    svix_id: str
    email_id: str
    to_email_address: str
    subject: str
    body: str | None
    body_plain: str | None


class DeliverSms(TypedDict):
    """`deliver_sms`: send a Clerk text message (SMS) the application took over."""

    kind: Literal["deliver_sms"]
    svix_id: str
    sms_id: str
    to_phone_number: str
    message: str


Cleanup = UserCleanup | OrganizationCleanup
Effect = WelcomeEmail | Cleanup | DeliverEmail | DeliverSms
"""A message body as the receiver (or, for a clean-up's continuation, the worker) queues it: a JSON
object, one TypedDict per kind. The fields hold what the event carried (the event-type functions
check the ids, `missing_field` the required texts); the worker checks them again on receipt
(`parse_message`), since a queue carries whatever was sent to it."""


class WorkerTask(StrEnum):
    """What the worker (app/effects_worker.py) does with a kind (not a Lambda handler: handlers/)."""

    WELCOME = "welcome"  # send the welcome e-mail
    CLEANUP = "cleanup"  # tombstone a deleted parent's children, in parts
    DELIVER = "deliver"  # send a Clerk e-mail the app took over
    DELIVER_SMS = "deliver_sms"  # send a Clerk text message (SMS) the app took over


class Channel(StrEnum):
    """How a kind reaches a person, for the kinds that send something at most once (their claims,
    their unconfirmed listing and metric are per channel)."""

    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class EffectSpec:
    """One effect kind."""

    kind: str
    target_field: str
    """The field naming what the effect is about (part of its idempotency key)."""
    task: WorkerTask
    required: tuple[str, ...] = ()
    """Fields that must be non-empty strings (besides svix_id and the target)."""
    delay_seconds: int = 0
    """SQS delay of the first message. Clean-ups find children through global secondary indexes, which
    lag behind writes (usually well under a second): the delay lets a membership written just before
    the parent's deletion reach the index first. Continuations (a `part`) go at once."""
    cleans: Table | None = None
    """A clean-up's deleted parent: its phases are the parent's child tables (`tables.children_of`)."""

    @property
    def phases(self) -> tuple[str, ...]:
        """A clean-up's queries, in order, by child table (a continuation names the one it resumes)."""
        return tuple(spec.table.value for spec, _ in children_of(self.cleans)) if self.cleans else ()

    channel: Channel | None = None
    """What the effect sends, if it sends a message to a person."""


EFFECT_KINDS: Mapping[str, EffectSpec] = {
    spec.kind: spec
    for spec in (
        EffectSpec("welcome_email", "user_id", WorkerTask.WELCOME, channel=Channel.EMAIL),
        EffectSpec("user_cleanup", "user_id", WorkerTask.CLEANUP, delay_seconds=5, cleans=Table.USERS),
        EffectSpec(
            "organization_cleanup",
            "organization_id",
            WorkerTask.CLEANUP,
            delay_seconds=5,
            cleans=Table.ORGANIZATIONS,
        ),
        EffectSpec(
            "deliver_email",
            "email_id",
            WorkerTask.DELIVER,
            required=("to_email_address", "subject"),
            channel=Channel.EMAIL,
        ),
        EffectSpec(
            "deliver_sms",
            "sms_id",
            WorkerTask.DELIVER_SMS,
            required=("to_phone_number", "message"),
            channel=Channel.SMS,
        ),
    )
}


def effect_key(kind: str, svix_id: str, target: str) -> str:
    """An effect's idempotency key: kind + svix id + target."""
    return f"{kind}#{svix_id}#{target}"


class PoisonMessageError(Exception):
    """A message that no retry can make valid (unknown kind, not JSON, missing fields)."""


@dataclass(frozen=True)
class Position:
    """Where a clean-up part starts: its phase, and the exclusive start key of that phase's query
    (the table and index keys of the last item tombstoned before; None: the phase's beginning)."""

    phase: str
    start_key: dict[str, str] | None = None


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
            return Position(EFFECT_KINDS[self.kind].phases[0])
        return Position(self.fields["phase"], self.fields.get("start_key"))

    def text(self, name: str) -> str | None:
        """A string field, or None when absent or not a non-empty string."""
        value = self.fields.get(name)
        return value if isinstance(value, str) and value else None


def parse_message(body: str) -> EffectMessage:
    """Validate a message body; raises PoisonMessageError with a reason that names no personal data."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise PoisonMessageError("body is not JSON") from None
    if not isinstance(data, dict):
        raise PoisonMessageError("body is not a JSON object")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in EFFECT_KINDS:
        raise PoisonMessageError(f"unknown kind {kind!r}"[:80])
    spec = EFFECT_KINDS[kind]
    # a spilled body is a reference: its fields are checked once it is loaded
    required = (spec.target_field,) if "spilled" in data else (spec.target_field, *spec.required)
    missing = [name for name in ("svix_id", *required) if not _filled(data.get(name))]
    if missing:
        raise PoisonMessageError(f"{kind} without {', '.join(missing)}")
    if "part" in data:
        _check_continuation(kind, data)
    return EffectMessage(
        kind=kind, svix_id=data["svix_id"], target=data[spec.target_field], fields=data, queued=body
    )


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def missing_field(effect: Effect) -> str | None:
    """The first field of a new effect that the worker would find missing (parse_message), else None:
    the receiver refuses such an event instead of queueing a message that can never be handled."""
    spec = EFFECT_KINDS[effect["kind"]]
    fields: Mapping[str, object] = effect
    for name in spec.required:
        if not _filled(fields.get(name)):
            return name
    return None


def _check_continuation(kind: str, data: dict[str, Any]) -> None:
    """A continuation's part number, phase and start key, as the worker writes them."""
    part, start_key = data.get("part"), data.get("start_key")
    if not EFFECT_KINDS[kind].phases:
        raise PoisonMessageError(f"{kind} with a part number")
    if not isinstance(part, int) or isinstance(part, bool) or part < 2:
        raise PoisonMessageError(f"{kind} with part {part!r}"[:80])
    if data.get("phase") not in EFFECT_KINDS[kind].phases:
        raise PoisonMessageError(f"{kind} with an unknown phase")
    if start_key is not None and not (
        isinstance(start_key, dict)
        and start_key
        and all(isinstance(v, str) and v for v in start_key.values())
    ):
        raise PoisonMessageError(f"{kind} with a malformed start key")


def welcome_email(event: Event, email: str | None) -> WelcomeEmail:
    """Greet a new user (the worker skips users without an address)."""
    return {
        "kind": "welcome_email",
        "svix_id": event.svix_id,
        "user_id": event.field("id"),
        "email": email,
        "first_name": event.field("first_name"),
    }


def user_cleanup(event: Event) -> UserCleanup:
    """Tombstone the records of a deleted user in other tables (memberships, sessions, billing)."""
    return {
        "kind": "user_cleanup",
        "svix_id": event.svix_id,
        "user_id": event.field("id"),
        "deleted_at": event.occurred_at,
    }


def organization_cleanup(event: Event) -> OrganizationCleanup:
    """Tombstone the records of a deleted organization in other tables (memberships, invitations,
    domains, billing)."""
    return {
        "kind": "organization_cleanup",
        "svix_id": event.svix_id,
        "organization_id": event.field("id"),
        "deleted_at": event.occurred_at,
    }


def cleanup_continuation(message: EffectMessage, position: Position) -> Cleanup:
    """The rest of a clean-up that did not fit in one part: the same clean-up, from `position`.

    `message` is a clean-up that parse_message accepted (its kind, svix id, target and any part were
    checked), so its fields are a `Cleanup`'s; the cast states what that check established."""
    return cast(
        Cleanup,
        {
            **message.fields,
            "part": message.part + 1,
            "phase": position.phase,
            "start_key": position.start_key,
        },
    )


def deliver_email(event: Event) -> DeliverEmail:
    """Send a Clerk e-mail whose delivery the application has taken over."""
    return {
        "kind": "deliver_email",
        "svix_id": event.svix_id,
        "email_id": event.field("id"),
        "to_email_address": event.field("to_email_address"),
        "subject": event.field("subject"),
        "body": event.field("body"),
        "body_plain": event.field("body_plain"),
    }


def deliver_sms(event: Event) -> DeliverSms:
    """Send a Clerk text message (SMS) whose delivery the application has taken over."""
    return {
        "kind": "deliver_sms",
        "svix_id": event.svix_id,
        "sms_id": event.field("id"),
        "to_phone_number": event.field("to_phone_number"),
        "message": event.field("message"),
    }
