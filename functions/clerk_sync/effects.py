"""Side-effect messages: what slow work an event hands to the SideEffects queue."""

from __future__ import annotations

from typing import Any, Literal

from clerk_sync.events import Event
from clerk_sync.messages import EffectMessage, Position

EffectKind = Literal["welcome_email", "user_cleanup", "organization_cleanup", "deliver_email"]
Effect = dict[str, Any]


def welcome_email(event: Event, email: str | None) -> Effect:
    """Greet a new user (the worker skips users without an address)."""
    return {
        "kind": "welcome_email",
        "svix_id": event.svix_id,
        "user_id": event.field("id"),
        "email": email,
        "first_name": event.field("first_name"),
    }


def user_cleanup(event: Event) -> Effect:
    """Tombstone every membership and session of a deleted user."""
    return {
        "kind": "user_cleanup",
        "svix_id": event.svix_id,
        "user_id": event.field("id"),
        "deleted_at": event.occurred_at,
    }


def organization_cleanup(event: Event) -> Effect:
    """Tombstone every membership of a deleted organization."""
    return {
        "kind": "organization_cleanup",
        "svix_id": event.svix_id,
        "organization_id": event.field("id"),
        "deleted_at": event.occurred_at,
    }


def cleanup_continuation(message: EffectMessage, position: Position) -> Effect:
    """The rest of a clean-up that did not fit in one part: the same clean-up, from `position`."""
    return {
        **message.fields,
        "part": message.part + 1,
        "phase": position.phase,
        "start_key": position.start_key,
    }


def deliver_email(event: Event) -> Effect:
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
