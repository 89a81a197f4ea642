"""ChangesFunction's work: a batch of stream records in, their changes on the bus, partial failures out.

Records are read in the shard's order. Those that changed a state become events; all of a batch's events
are published together (EventBus.put resends refused ones until the deadline). If some are still not
accepted, the answer names the first record whose event failed: Lambda checkpoints the records before it
and sends the batch again from that record, so nothing after a failure is skipped, and what it publishes
again carries the same ids. A record that cannot be read fails the batch from there the same way: after
the event source's bounded retries (bisecting the batch to isolate it) it goes to the on-failure
destination and the alarm fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clerk_sync.adapters.dynamodb.streams import StreamRecord, UnreadableRecordError, read_record
from clerk_sync.adapters.eventbridge import Entry, EventBus
from clerk_sync.domain.changes import Change, ChangeDetail, UnreadableImageError, change_of, detail, encode
from clerk_sync.domain.deadline import Deadline, LambdaContext
from clerk_sync.domain.tables import Table
from clerk_sync.observability import logger, metrics

MARGIN_SECONDS = 5.0  # kept of the invocation to answer (at most a tenth of it)
DEFAULT_SECONDS = 30.0  # the budget without a Lambda context (tools, tests)
# What reading a record that is not a readable write of a synced table raises (ChangePublisher.change).
UNREADABLE = (UnreadableRecordError, UnreadableImageError, KeyError)


@dataclass(frozen=True)
class Published:
    """What one batch did."""

    records: int
    events: int
    failed_from: str | None  # the sequence number Lambda resumes from (None: all done)


class ChangePublisher:
    """Turns stream records of the synced tables into events on the bus."""

    def __init__(self, bus: EventBus, tables: Mapping[str, Table], contents: ChangeDetail) -> None:
        self._bus = bus
        self._tables = tables  # physical name -> table
        self._contents = contents

    def handle(self, event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
        """Lambda's answer for a batch: `batchItemFailures` holds the record to resume from, if any."""
        done = self.publish(event.get("Records") or [], context)
        return {
            "batchItemFailures": [] if done.failed_from is None else [{"itemIdentifier": done.failed_from}]
        }

    def publish(self, records: Sequence[Mapping[str, Any]], context: LambdaContext | None) -> Published:
        """Publish the changes of `records`, in order."""
        deadline = Deadline.of_invocation(context, MARGIN_SECONDS, DEFAULT_SECONDS)
        entries: list[Entry] = []
        owners: list[int] = []  # the record of each entry
        unreadable: int | None = None
        for position, record in enumerate(records):
            try:
                entry = self._entry(record)
            except UNREADABLE as error:
                logger.error("unreadable stream record", extra={"error": str(error), "position": position})
                unreadable = position
                break
            if entry is not None:
                entries.append(entry)
                owners.append(position)
        refused = self._bus.put(entries, deadline) if entries else set()
        failed = [owners[i] for i in refused] + ([unreadable] if unreadable is not None else [])
        first = min(failed, default=None)
        published = len(entries) - len(refused)
        metrics.add_metric(name="ChangesPublished", unit="Count", value=published)
        if first is not None:
            metrics.add_metric(name="ChangesNotPublished", unit="Count", value=len(failed))
            logger.warning(
                "changes not published: the batch resumes from the first", extra={"records": len(failed)}
            )
        sequence = _sequence_number(records[first]) if first is not None else None
        return Published(records=len(records), events=published, failed_from=sequence)

    def change(self, record: Mapping[str, Any]) -> Change | None:
        """The change a Lambda stream record makes (None: none), as `publish` would publish it; one of
        UNREADABLE when the record is not a readable write of a synced table."""
        written, table = self._read(record)
        return change_of(table, written.old, written.new)

    def _read(self, record: Mapping[str, Any]) -> tuple[StreamRecord, Table]:
        written = read_record(record)
        table = self._tables.get(written.table_name)
        if table is None:
            raise UnreadableRecordError("a stream of a table that is not synced")
        return written, table

    def _entry(self, record: Mapping[str, Any]) -> Entry | None:
        written, table = self._read(record)
        change = change_of(table, written.old, written.new)
        if change is None:
            return None
        logger.info(
            "change",
            extra={
                "table": table.value,
                "change": change.kind.value,
                "version": change.version,
                "id": change.id,
            },
        )
        return Entry(change.detail_type, encode(detail(change, self._contents)), written.written_at)


def _sequence_number(record: Mapping[str, Any]) -> str:
    body = record.get("dynamodb")
    return str(body.get("SequenceNumber", "")) if isinstance(body, Mapping) else ""
