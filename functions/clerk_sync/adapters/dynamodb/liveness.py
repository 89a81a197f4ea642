"""Whether a stored user is a tombstone: effects that address a user check it as they run."""

from __future__ import annotations

from clerk_sync.adapters.dynamodb.models import Versioned
from clerk_sync.domain.rules import is_tombstone


def user_deleted(users: type[Versioned], user_id: str) -> bool:
    """True when the stored user is a tombstone (a strongly consistent read of one attribute)."""
    try:
        record = users.get(user_id, consistent_read=True, attributes_to_get=["deleted"])
    except users.DoesNotExist:
        return False
    return is_tombstone(record.attribute_values)
