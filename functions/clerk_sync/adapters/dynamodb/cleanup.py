"""Clean-up cascades: tombstoning the records of a deleted user or organization in other tables (its
memberships, sessions, invitations, domains, billing records), from a position and until a deadline,
so that a clean-up of any size runs in parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from clerk_sync.adapters.dynamodb.models import Models, Versioned
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import Position
from clerk_sync.domain.rules import cascade_version, is_tombstone
from clerk_sync.domain.tables import ParentLink, Table, TableSpec, children_of

BATCH_SIZE = 25  # BatchWriteItem's limit; the deadline is checked after each batch
# Items per query page (8 batches): a part reads little more than it tombstones. A 1 MB page
# (DynamoDB's default) holds thousands of memberships: ≈0.5 s to read on DynamoDB Local, over 3 s on moto.
PAGE_SIZE = 200
SVIX_ID_PREFIX = "cleanup:"
"""A clean-up tombstone's `svix_id`: this prefix, then the svix id of the parent's deletion (what the
change feed names as `written_by`)."""

Query = Callable[[dict[str, dict[str, str]] | None], Iterable[Versioned]]


@dataclass(frozen=True)
class CleanupResult:
    """How many records a part tombstoned per table, and where the next part starts (None: done)."""

    tombstoned: Mapping[str, int]
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
        version=cascade_version(int(record.attribute_values["version"]), deleted_at),
        svix_id=f"{SVIX_ID_PREFIX}{svix_id}",
    )


class Cleaner:
    """Tombstones children of deleted parents, page by page, in batches of 25 writes.

    The children are the records whose table declares the parent (`tables.children_of`), found by the
    table's partition or the index the link names. Unconditional batch writes are safe here
    (`rules.cascade_version` says why).
    """

    def __init__(self, models: Models) -> None:
        self.models = models

    def children(
        self,
        parent: Table,
        parent_id: str,
        deleted_at: int,
        svix_id: str,
        start: Position,
        deadline: Deadline,
    ) -> CleanupResult:
        """Tombstone every live child of the deleted parent, table by table, from `start`."""
        phases = [self._phase_of(spec, link, parent_id) for spec, link in children_of(parent)]
        return self._run(phases, start, deadline, deleted_at, svix_id)

    def _phase_of(self, spec: TableSpec, link: ParentLink, parent_id: str) -> _Phase:
        model = self.models.for_table(spec.table)
        index = link.index

        def query(key: dict[str, dict[str, str]] | None) -> Iterable[Versioned]:
            if index is None:  # the parent is this table's partition: read it consistently
                return model.query(
                    parent_id, consistent_read=True, last_evaluated_key=key, page_size=PAGE_SIZE
                )
            return model.query(parent_id, index_name=index, last_evaluated_key=key, page_size=PAGE_SIZE)

        return _Phase(spec.table.value, model, query, tuple(dict.fromkeys((*spec.key_names, link.field))))

    def _run(
        self, phases: list[_Phase], start: Position, deadline: Deadline, deleted_at: int, svix_id: str
    ) -> CleanupResult:
        counts = dict.fromkeys((phase.name for phase in phases), 0)

        def result(resume: Position | None = None) -> CleanupResult:
            return CleanupResult(counts, resume)

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
            if is_tombstone(record.attribute_values):
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
