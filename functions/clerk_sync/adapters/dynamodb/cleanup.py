"""Clean-up cascades: tombstoning the memberships and sessions of a deleted user or organization, from a
position and until a deadline, so that a clean-up of any size runs in parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from clerk_sync.adapters.dynamodb.models import Models, Versioned
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import Position
from clerk_sync.domain.rules import cascade_version

BATCH_SIZE = 25  # BatchWriteItem's limit; the deadline is checked after each batch
# Items per query page (8 batches): a part reads little more than it tombstones. A 1 MB page
# (DynamoDB's default) holds thousands of memberships: ≈0.5 s to read on DynamoDB Local, over 3 s on moto.
PAGE_SIZE = 200

Query = Callable[[dict[str, dict[str, str]] | None], Iterable[Versioned]]


@dataclass(frozen=True)
class CleanupResult:
    """How many records a part tombstoned, and where the next part starts (None: the clean-up is done)."""

    memberships: int = 0
    sessions: int = 0
    resume: Position | None = None


@dataclass(frozen=True)
class _Phase:
    """One query of a clean-up: what it tombstones, and the key attributes its start key needs."""

    name: str
    model: type[Versioned]
    query: Query
    key_names: tuple[str, ...]  # the table's keys and the queried index's keys


def _tombstone(record: Versioned, deleted_at: int, svix_id: str) -> Versioned:
    """A tombstone copy of a live record: key attributes and deletion marks only."""
    model = type(record)
    names = [name for name in (model._hash_keyname, model._range_keyname) if name]
    return model(
        **{name: getattr(record, name) for name in names},
        deleted=True,
        deleted_at=deleted_at,
        version=cascade_version(int(record.version), deleted_at),
        svix_id=svix_id,
    )


class Cleaner:
    """Tombstones children of deleted parents, page by page, in batches of 25 writes.

    Unconditional batch writes are safe here (`rules.cascade_version` says why).
    """

    def __init__(self, models: Models) -> None:
        self.models = models

    def user(
        self, user_id: str, deleted_at: int, svix_id: str, start: Position, deadline: Deadline
    ) -> CleanupResult:
        """Tombstone the user's memberships, then sessions (found through the user-index indexes)."""
        memberships, sessions = self.models.memberships, self.models.sessions
        phases = [
            _Phase(
                "memberships",
                memberships,
                lambda key: memberships.query(
                    user_id, index_name="user-index", last_evaluated_key=key, page_size=PAGE_SIZE
                ),
                ("organization_id", "user_id"),
            ),
            _Phase(
                "sessions",
                sessions,
                lambda key: sessions.query(
                    user_id, index_name="user-index", last_evaluated_key=key, page_size=PAGE_SIZE
                ),
                ("id", "user_id"),
            ),
        ]
        return self._run(phases, start, deadline, deleted_at, svix_id)

    def organization(
        self, organization_id: str, deleted_at: int, svix_id: str, start: Position, deadline: Deadline
    ) -> CleanupResult:
        """Tombstone every membership of the organization (its table partition, read consistently)."""
        memberships = self.models.memberships
        phase = _Phase(
            "memberships",
            memberships,
            lambda key: memberships.query(
                organization_id, consistent_read=True, last_evaluated_key=key, page_size=PAGE_SIZE
            ),
            ("organization_id", "user_id"),
        )
        return self._run([phase], start, deadline, deleted_at, svix_id)

    def _run(
        self, phases: list[_Phase], start: Position, deadline: Deadline, deleted_at: int, svix_id: str
    ) -> CleanupResult:
        counts = dict.fromkeys(("memberships", "sessions"), 0)

        def result(resume: Position | None = None) -> CleanupResult:
            return CleanupResult(counts["memberships"], counts["sessions"], resume)

        names = [phase.name for phase in phases]
        start_key = start.start_key
        for phase in phases[names.index(start.phase) :]:
            if phase.name != start.phase and deadline.passed():
                return result(Position(phase.name))
            written, stopped_at = self._phase(phase, start_key, deadline, deleted_at, svix_id)
            counts[phase.name] += written
            if stopped_at is not None:
                return result(Position(phase.name, stopped_at))
            start_key = None
        return result()

    @staticmethod
    def _phase(
        phase: _Phase, start_key: dict[str, str] | None, deadline: Deadline, deleted_at: int, svix_id: str
    ) -> tuple[int, dict[str, str] | None]:
        """Tombstones written, and the start key of the rest when the deadline passed (else None)."""
        typed = {name: {"S": value} for name, value in start_key.items()} if start_key else None
        written, pending = 0, []
        for record in phase.query(typed):
            if record.deleted:
                continue
            pending.append(record)
            if len(pending) == BATCH_SIZE:
                written += _write(phase.model, pending, deleted_at, svix_id)
                last, pending = pending[-1], []
                if deadline.passed():
                    return written, {name: str(getattr(last, name)) for name in phase.key_names}
        return written + _write(phase.model, pending, deleted_at, svix_id), None


def _write(model: type[Versioned], records: list[Versioned], deleted_at: int, svix_id: str) -> int:
    """One BatchWriteItem of tombstones (PynamoDB retries unprocessed items)."""
    if records:
        with model.batch_write() as batch:
            for record in records:
                batch.save(_tombstone(record, deleted_at, svix_id))
    return len(records)
