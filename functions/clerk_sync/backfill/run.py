"""One backfill run: walk each kind in Clerk, plan against what is stored, apply, reconcile.

Per kind (in the order of kinds.py), page by page: synthesize the writes, read the stored versions
(and, for records with parents, whether a parent is tombstoned), classify, and send only the
writes that change something, through `Store.apply` (version-guarded: a newer webhook write or a
tombstone always wins, even one that lands between the read and the write). A failure stops the run;
what was written stays, and a rerun redoes the reads and writes only what is still missing.

With `reconcile`, a kind whose walk was complete is compared with its stored live records; those Clerk
did not return are confirmed absent (kinds.Absence: a look-up answering 404, a complete list filtered by
a stored attribute lacking them, or, for plans that only backfill writes, the complete list itself) and
then tombstoned. A kind whose absence cannot be
confirmed is not reconciled, and the summary says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from clerk_sync.adapters.clerk import features, paging
from clerk_sync.adapters.clerk.errors import ClerkApiError, FeatureNotEnabledError
from clerk_sync.adapters.clerk.kinds import KINDS, Absence, Key
from clerk_sync.adapters.clerk.paging import Page, Walk
from clerk_sync.adapters.clerk.stats import ApiStats
from clerk_sync.adapters.dynamodb.store import Store, WriteOutcome
from clerk_sync.backfill import planning
from clerk_sync.backfill.failures import StorageError
from clerk_sync.backfill.planning import Action, Planned
from clerk_sync.backfill.report import KindCounts, Progress, SilentProgress, Summary
from clerk_sync.backfill.stored import StoredRecords
from clerk_sync.domain.plans import InvalidEventError, Write
from clerk_sync.domain.tables import Table


class ClerkReader(Protocol):
    """What a run needs from the Clerk API (`adapters.clerk.api.ClerkApi`, or a test double)."""

    stats: ApiStats

    def total(self, table: Table) -> int | None:
        """The size of a list, when cheaply known."""

    def page(self, table: Table, offset: int, limit: int) -> Page:
        """One page in ascending creation order."""

    def absent(self, table: Table, keys: Mapping[Key, Mapping[str, str]]) -> set[Key]:
        """Which keys (with their stored look-up fields) Clerk does not have."""


@dataclass(frozen=True)
class Options:
    """How to run."""

    dry_run: bool = False
    reconcile: bool = False
    page_size: int = paging.MAX_PAGE_SIZE
    overlap: int | None = None  # objects shared by consecutive pages (default: 5 % of a page)
    kinds: tuple[Table, ...] = tuple(KINDS)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Backfill:
    """Runs backfills with one API reader, one DynamoDB reader and one writer."""

    def __init__(
        self,
        api: ClerkReader,
        stored: StoredRecords,
        store: Store,
        progress: Progress | None = None,
        workers: int = 8,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.api = api
        self.stored = stored
        self.store = store
        self.progress: Progress = progress or SilentProgress()
        self.workers = workers
        self.clock = clock

    def run(self, options: Options = Options()) -> Summary:
        """Backfill (and reconcile) every kind; a failure ends the run and is in `summary.failure`."""
        started = time.monotonic()
        before = replace(self.api.stats, notes=list(self.api.stats.notes))
        summary = Summary(run_id=planning.new_run_id(), dry_run=options.dry_run, reconcile=options.reconcile)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="backfill") as pool:
                for table in options.kinds:
                    counts = KindCounts(table)
                    summary.kinds[table] = counts
                    parent = features.PARENT.get(table)
                    if parent in summary.kinds and summary.kinds[parent].skipped:
                        self._skip(counts, features.skipped_with(parent))
                        continue
                    try:
                        self._kind(table, counts, summary, options, pool)
                    except FeatureNotEnabledError:
                        self._skip(counts, features.NOT_ENABLED)
        except (ClerkApiError, StorageError) as error:
            summary.failure = str(error)
        except (BotoCoreError, ClientError, PynamoDBException) as error:
            summary.failure = str(StorageError(f"DynamoDB: {error}"))
        finally:
            summary.seconds = time.monotonic() - started
            stats = self.api.stats
            summary.api_requests = stats.requests - before.requests
            summary.lenient_pages = stats.lenient_pages - before.lenient_pages
            summary.waits = stats.waits - before.waits
            summary.waited_seconds = stats.waited_seconds - before.waited_seconds
            summary.notes.extend(stats.notes[len(before.notes) :])
        return summary

    # --- one kind ------------------------------------------------------------------------------

    def _skip(self, counts: KindCounts, reason: str) -> None:
        """The kind's feature is off on the instance: reported, never reconciled, the run goes on."""
        counts.skipped, counts.complete = reason, False
        self.progress.note(f"{counts.table.value}: {reason}")

    def _kind(
        self, table: Table, counts: KindCounts, summary: Summary, options: Options, pool: ThreadPoolExecutor
    ) -> None:
        counts.total = self.api.total(table)
        self.progress.started(counts)
        state: Walk[Key] = Walk()
        pages = paging.walk(
            lambda offset, limit: self.api.page(table, offset, limit),
            lambda obj: planning.object_key(table, obj),
            state,
            limit=options.page_size,
            overlap=options.overlap,
        )
        for objects in pages:
            self._page(table, objects, counts, summary.run_id, options, pool)
            counts.read = len(state.seen)
            counts.pages, counts.backtracks = state.pages, state.backtracks
            if counts.total is None:
                counts.total = state.total
            self.progress.advanced(counts)
        counts.complete = state.complete and counts.malformed == 0
        if state.gap:
            self._note(
                summary, f"{table.value}: the list shifted too much during the read: it may be incomplete"
            )
        if options.reconcile and KINDS[table].absence is Absence.NONE:
            self._note(summary, f"{table.value}: not reconciled: {KINDS[table].not_reconciled}")
        elif options.reconcile and counts.complete:
            self._reconcile(table, state.seen, counts, summary, options, pool)
        self.progress.finished(counts)

    def _page(
        self,
        table: Table,
        objects: list[dict[str, Any]],
        counts: KindCounts,
        run_id: str,
        options: Options,
        pool: ThreadPoolExecutor,
    ) -> None:
        now = self.clock()
        writes: list[Write] = []
        for obj in objects:
            try:
                writes.append(planning.synthesize(table, obj, run_id, now))
            except InvalidEventError:
                counts.malformed += 1
        stored = self.stored.get(table, (planning.key_of(table, w.key) for w in writes), pool)
        tombstoned = self._tombstoned_parents(writes, pool)
        planned = [
            Planned(
                w,
                planning.classify(
                    w,
                    stored.get(planning.key_of(table, w.key)),
                    any(parent in tombstoned for parent in planning.parent_keys(w)),
                ),
            )
            for w in writes
        ]
        self._apply(planned, counts, options, pool)

    def _tombstoned_parents(self, writes: list[Write], pool: ThreadPoolExecutor) -> set[tuple[Table, Key]]:
        wanted: dict[Table, set[Key]] = {}
        for write in writes:
            for parent_table, parent_key in planning.parent_keys(write):
                wanted.setdefault(parent_table, set()).add(parent_key)
        return {
            (parent_table, key)
            for parent_table, keys in wanted.items()
            for key, record in self.stored.get(parent_table, keys, pool).items()
            if record.deleted
        }

    def _apply(
        self, planned: list[Planned], counts: KindCounts, options: Options, pool: ThreadPoolExecutor
    ) -> list[Planned]:
        """Send the writes that change something; returns those that did (in a dry run: would)."""
        to_send = [p for p in planned if p.action.writes]
        for p in planned:
            counts.actions[p.action] += 1
        if options.dry_run or not to_send:
            return to_send
        outcomes: list[WriteOutcome] = list(pool.map(lambda p: self.store.apply(p.write), to_send))
        for p, outcome in zip(to_send, outcomes, strict=True):
            if outcome == "stale":  # a webhook wrote a newer version (or a tombstone) since the read
                counts.actions[p.action] -= 1
                counts.actions[Action.STALE] += 1
                counts.raced += 1
        return [p for p, outcome in zip(to_send, outcomes, strict=True) if outcome == "applied"]

    def _note(self, summary: Summary, message: str) -> None:
        summary.notes.append(message)
        self.progress.note(message)

    # --- reconcile -----------------------------------------------------------------------------

    def _reconcile(
        self,
        table: Table,
        seen: set[Key],
        counts: KindCounts,
        summary: Summary,
        options: Options,
        pool: ThreadPoolExecutor,
    ) -> None:
        live = dict(self.stored.live(table, KINDS[table].lookup_fields))
        candidates = planning.missing(live, seen)
        gone = sorted(self.api.absent(table, {key: live[key] for key in candidates})) if candidates else []
        if len(gone) < len(candidates):
            self._note(
                summary,
                f"{table.value}: {len(candidates) - len(gone)} stored records missing from the list "
                "still exist in Clerk (created or moved during the read): kept",
            )
        now = self.clock()
        stored = self.stored.get(table, gone, pool)
        planned = [
            Planned(w, planning.classify(w, stored.get(key)))
            for key, w in ((key, planning.tombstone(table, key, summary.run_id, now)) for key in gone)
        ]
        counts.tombstoned = [p.key for p in self._apply(planned, counts, options, pool)]
        counts.reconciled = True
