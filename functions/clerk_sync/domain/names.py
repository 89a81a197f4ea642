"""What the values that become keys, answers, log fields and metric dimensions look like.

Only a value of one of these shapes leaves a delivery as text (an answer's `id`/`type`, a log field,
a metric dimension, a key): anything else in a payload is named by its path, never shown. The lengths
keep every derived key (e.g. a claim: kind, svix id, target) far below DynamoDB's key limits.
"""

from __future__ import annotations

import re

MAX_ID = 128
MAX_TYPE = 64
MAX_MESSAGE_ID = 128

_CLERK_ID = re.compile(r"[a-z][a-z0-9]*_[A-Za-z0-9_]+")  # user_2abc…, orgmem_…, cplan_…
_EVENT_TYPE = re.compile(r"[a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+")  # user.created, subscriptionItem.pastDue
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")  # msg_2Lbt8vH3bRCv4XgFuuT3yNz3JRT


def is_clerk_id(value: object) -> bool:
    """A Clerk object id: a lower-case prefix, `_`, then letters, digits and `_`."""
    return isinstance(value, str) and len(value) <= MAX_ID and _CLERK_ID.fullmatch(value) is not None


def is_event_type(value: object) -> bool:
    """An event-type name as Clerk spells them: `resource.action`, camel-case words."""
    return isinstance(value, str) and len(value) <= MAX_TYPE and _EVENT_TYPE.fullmatch(value) is not None


def is_message_id(value: object) -> bool:
    """A Svix message id (the `svix-id` header): ASCII letters, digits and `_.:-`."""
    return (
        isinstance(value, str) and len(value) <= MAX_MESSAGE_ID and _MESSAGE_ID.fullmatch(value) is not None
    )
