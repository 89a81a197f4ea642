"""Clean-up cascades: tombstoning every membership and session of a deleted user or organization."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clerk_sync.models import MembershipRecord, Models, SessionRecord, Versioned


@dataclass(frozen=True)
class CleanupResult:
    """How many records a clean-up tombstoned."""

    memberships: int = 0
    sessions: int = 0


def _tombstones(records: Iterable[Versioned], deleted_at: int, svix_id: str) -> Iterable[Versioned]:
    """Tombstone copies of live records: key attributes and deletion marks only."""
    for record in records:
        if record.deleted:
            continue
        model = type(record)
        names = [name for name in (model._hash_keyname, model._range_keyname) if name]
        keys = {name: getattr(record, name) for name in names}
        yield model(
            **keys,
            deleted=True,
            deleted_at=deleted_at,
            version=max(record.version, deleted_at),
            svix_id=svix_id,
        )


class Cleaner:
    """Tombstones children of deleted parents, page by page, in batches of 25 writes.

    Unconditional batch writes are safe here: the parent's tombstone is already stored and final, and
    the receiver refuses any live write of a child whose user or organization is tombstoned.
    """

    def __init__(self, models: Models) -> None:
        self.models = models

    def user(self, user_id: str, deleted_at: int, svix_id: str) -> CleanupResult:
        """Tombstone the user's memberships and sessions (found through the user-index indexes)."""
        memberships = self.models.memberships.query(user_id, index_name="user-index")
        sessions = self.models.sessions.query(user_id, index_name="user-index")
        return CleanupResult(
            memberships=self._write(self.models.memberships, _tombstones(memberships, deleted_at, svix_id)),
            sessions=self._write(self.models.sessions, _tombstones(sessions, deleted_at, svix_id)),
        )

    def organization(self, organization_id: str, deleted_at: int, svix_id: str) -> CleanupResult:
        """Tombstone every membership of the organization."""
        memberships = self.models.memberships.query(organization_id, consistent_read=True)
        return CleanupResult(
            memberships=self._write(self.models.memberships, _tombstones(memberships, deleted_at, svix_id))
        )

    @staticmethod
    def _write(model: type[MembershipRecord] | type[SessionRecord], tombstones: Iterable[Versioned]) -> int:
        count = 0
        with model.batch_write() as batch:
            for tombstone in tombstones:
                batch.save(tombstone)
                count += 1
        return count
