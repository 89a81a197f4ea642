"""Counts of a run, the progress callbacks a front end implements, and the summary text (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from clerk_sync.adapters.clerk.listings import Key
from clerk_sync.backfill.actions import Action
from clerk_sync.domain.tables import Table

SHOWN_TOMBSTONES = 50


@dataclass
class KindCounts:
    """What happened to one kind (its listing: adapters/clerk/listings.py)."""

    table: Table
    total: int | None = None  # what Clerk says it holds, when it says so
    read: int = 0  # distinct objects read from Clerk
    actions: dict[Action, int] = field(default_factory=lambda: dict.fromkeys(Action, 0))
    raced: int = 0  # planned writes that a concurrent (webhook) write made stale (counted as stale)
    malformed: int = 0  # objects lacking what the write path needs
    complete: bool = False  # the whole list was read, without gaps and malformed objects
    reconciled: bool = False  # stored records were compared with the complete read
    tombstoned: list[Key] = field(default_factory=list)  # what reconcile tombstoned (or would)
    pages: int = 0
    backtracks: int = 0
    skipped: str | None = None  # why the kind was not read: its feature is off (adapters/clerk/features.py)

    @property
    def written(self) -> int:
        """Writes that changed (or, in a dry run, would change) a record."""
        return sum(n for action, n in self.actions.items() if action.writes)


@dataclass
class Summary:
    """The whole run."""

    run_id: str
    dry_run: bool
    reconcile: bool
    kinds: dict[Table, KindCounts] = field(default_factory=dict)
    api_requests: int = 0
    lenient_pages: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    failure: str | None = None  # the one-line reason the run stopped early
    paused: bool = False  # handed over before a timeout: a follow-up invocation continues the run

    @property
    def complete(self) -> bool:
        """True when every kind was read completely (or skipped: its feature is off) and nothing stopped
        the run."""
        return (
            self.failure is None
            and not self.paused
            and all(k.complete or k.skipped for k in self.kinds.values())
        )

    @property
    def skipped(self) -> dict[str, str]:
        """Kind -> why it was skipped."""
        return {k.table.value: k.skipped for k in self.kinds.values() if k.skipped}


class Progress(Protocol):
    """What a front end (terminal, logs) is told while a run goes on."""

    def started(self, counts: KindCounts) -> None:
        """A kind's walk begins (`counts.total` may be known)."""

    def advanced(self, counts: KindCounts) -> None:
        """A page was planned (and applied)."""

    def finished(self, counts: KindCounts) -> None:
        """A kind is done (walk and, if asked, reconciliation)."""

    def waiting(self, reason: str, seconds: float) -> None:
        """A request is retried after `seconds` (rate limit, server error, connection)."""

    def note(self, message: str) -> None:
        """Something the operator should read."""


class SilentProgress:
    """A Progress that ignores everything."""

    def started(self, counts: KindCounts) -> None:
        pass

    def advanced(self, counts: KindCounts) -> None:
        pass

    def finished(self, counts: KindCounts) -> None:
        pass

    def waiting(self, reason: str, seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def counts_line(counts: KindCounts) -> str:
    """`created 10, updated 2, unchanged 5, stale 1[, tombstoned 0][, malformed 3]`."""
    a = counts.actions
    parts = [
        f"created {a[Action.CREATE]}",
        f"updated {a[Action.UPDATE]}",
        f"unchanged {a[Action.UNCHANGED]}",
        f"stale {a[Action.STALE]}" + (f" ({counts.raced} raced)" if counts.raced else ""),
    ]
    if counts.reconciled or a[Action.TOMBSTONE]:
        parts.append(f"tombstoned {a[Action.TOMBSTONE]}")
    if counts.malformed:
        parts.append(f"malformed {counts.malformed}")
    return ", ".join(parts)


def format_summary(summary: Summary) -> list[str]:
    """The final report, one line per kind, then what reconcile changed."""
    verb = "would be" if summary.dry_run else "were"
    lines = [
        f"backfill {'(dry run, nothing written) ' if summary.dry_run else ''}"
        f"{'with reconcile ' if summary.reconcile else ''}run {summary.run_id}: "
        f"{summary.seconds:.1f} s, {summary.api_requests} Clerk API requests"
        + (f", {summary.waits} retries ({summary.waited_seconds:.1f} s waited)" if summary.waits else "")
    ]
    for counts in summary.kinds.values():
        if counts.skipped:
            lines.append(f"  {counts.table.value}: {counts.skipped}")
            continue
        status = "" if counts.complete else "  (read incomplete)"
        lines.append(f"  {counts.table.value:<13} read {counts.read:>7}: {counts_line(counts)}{status}")
    for counts in summary.kinds.values():
        if counts.tombstoned:
            shown = ", ".join("/".join(key) for key in counts.tombstoned[:SHOWN_TOMBSTONES])
            more = len(counts.tombstoned) - SHOWN_TOMBSTONES
            lines.append(
                f"  {counts.table.value} {verb} tombstoned (gone from Clerk): {shown}"
                + (f" … and {more} more" if more > 0 else "")
            )
        elif summary.reconcile and not counts.complete and not counts.skipped and summary.failure is None:
            lines.append(f"  {counts.table.value}: not reconciled, the read from Clerk was incomplete")
    lines.extend(f"  note: {note}" for note in summary.notes)
    if summary.paused:
        lines.append("  handed over before the time limit: the run continues where it stopped")
    if summary.failure:
        lines.append(f"  stopped early: {summary.failure} (what was written is kept; `--resume` continues)")
    return lines
