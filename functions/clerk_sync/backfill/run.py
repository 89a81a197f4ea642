"""One backfill run: walk each kind in Clerk, plan against what is stored, apply, reconcile.

Per kind (in the order of listings.py), page by page: synthesize the writes, read the stored versions
(and, for records with parents, whether a parent is tombstoned), classify, and send only the
writes that change something, through `Store.apply` (version-guarded: a newer webhook write or a
tombstone always wins, even one that lands between the read and the write). A failure stops the run;
what was written stays, and a rerun redoes the reads and writes only what is still missing.

With `reconcile`, a kind whose walk was complete is compared with its stored live records; those Clerk
did not return are confirmed absent (listings.Absence: a look-up answering 404, a complete list filtered by
a stored attribute lacking them, or, for plans that only backfill writes, the complete list itself) and
then tombstoned. A kind whose absence cannot be
confirmed is not reconciled, and the summary says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from clerk_sync.adapters.clerk import features, paging
from clerk_sync.adapters.clerk.errors import ClerkApiError, FeatureNotEnabledError
from clerk_sync.adapters.clerk.listings import LISTINGS, Absence, Key
from clerk_sync.adapters.clerk.paging import Page, Walk
from clerk_sync.adapters.clerk.stats import ApiStats
from clerk_sync.adapters.dynamodb.store import Store, WriteOutcome
from clerk_sync.backfill import actions
from clerk_sync.backfill.actions import Action, Decision
from clerk_sync.backfill.failures import StorageError
from clerk_sync.backfill.journal import Journal
from clerk_sync.backfill.report import KindCounts, Progress, SilentProgress, Summary
from clerk_sync.backfill.runs import KindProgress, RunRecord, Stage, State
from clerk_sync.backfill.stored import StoredRecords
from clerk_sync.domain.tables import Table
from clerk_sync.domain.writes import InvalidEventError, Write


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
    kinds: tuple[Table, ...] = tuple(LISTINGS)

    def to_dict(self) -> dict[str, Any]:
        """As a run record keeps them."""
        return {**asdict(self), "kinds": [table.value for table in self.kinds]}

    @classmethod
    def from_dict(cls, plain: Mapping[str, Any]) -> Options:
        return cls(**{**plain, "kinds": tuple(Table(name) for name in plain["kinds"])})


class Paused(Exception):
    """The invocation's time is nearly spent: the run stops between pages, its record says where."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class _Since:
    """Where this invocation started: what earlier invocations of the run counted, and the reader's
    stats then."""

    started: float  # time.monotonic()
    api: ApiStats
    earlier: Summary

    def tally(self, summary: Summary, stats: ApiStats) -> None:
        """The whole run's time, requests and waits so far, in `summary` (kept at every save, so that a
        killed process's part is counted up to its last completed page)."""
        earlier, before = self.earlier, self.api
        summary.seconds = earlier.seconds + time.monotonic() - self.started
        summary.api_requests = earlier.api_requests + stats.requests - before.requests
        summary.lenient_pages = earlier.lenient_pages + stats.lenient_pages - before.lenient_pages
        summary.waits = earlier.waits + stats.waits - before.waits
        summary.waited_seconds = earlier.waited_seconds + stats.waited_seconds - before.waited_seconds


@dataclass
class _Run:
    """One invocation's work on a run."""

    summary: Summary
    options: Options
    pool: ThreadPoolExecutor
    record: RunRecord | None  # None: not recorded (a dry run, or no journal)
    stop: Callable[[], bool]  # True: hand the run over now
    saved: bool  # the record is in the journal (a run is recorded once it has done something)
    since: _Since


class Backfill:
    """Runs backfills with one API reader, one DynamoDB reader and one writer, recording each run (but
    dry runs) in `journal` as it goes."""

    def __init__(
        self,
        api: ClerkReader,
        stored: StoredRecords,
        store: Store,
        progress: Progress | None = None,
        workers: int = 8,
        clock: Callable[[], int] = _now_ms,
        journal: Journal | None = None,
    ) -> None:
        self.api = api
        self.stored = stored
        self.store = store
        self.progress: Progress = progress or SilentProgress()
        self.workers = workers
        self.clock = clock
        self.journal = journal

    def run(
        self, options: Options = Options(), source: str = "cli", stop: Callable[[], bool] = _never
    ) -> Summary:
        """Backfill (and reconcile) every kind; a failure ends the run and is in `summary.failure`.

        `stop` is asked between pages: once it says True the run is handed over (`summary.paused`)."""
        summary = Summary(run_id=actions.new_run_id(), dry_run=options.dry_run, reconcile=options.reconcile)
        record = None
        if self.journal is not None and not options.dry_run:
            progress = {table: KindProgress() for table in options.kinds}
            record = RunRecord(summary, options.to_dict(), source, started_at=time.time(), progress=progress)
        return self._go(summary, options, record, stop, new=True)

    def resume(self, record: RunRecord, stop: Callable[[], bool] = _never) -> Summary:
        """Continue a recorded run (claimed by the caller: journal.claim) where its record says; the
        summary covers the whole run."""
        record.summary.failure = None
        return self._go(record.summary, Options.from_dict(record.options), record, stop, new=False)

    def _go(
        self,
        summary: Summary,
        options: Options,
        record: RunRecord | None,
        stop: Callable[[], bool],
        new: bool,
    ) -> Summary:
        since = _Since(
            started=time.monotonic(),
            api=replace(self.api.stats, notes=list(self.api.stats.notes)),
            earlier=replace(summary, kinds={}, notes=[]),  # what earlier invocations of the run counted
        )
        summary.paused = False
        run: _Run | None = None
        ended = False  # the run ended (done, paused or failed) rather than being interrupted
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="backfill") as pool:
                run = _Run(summary, options, pool, record, stop, saved=not new, since=since)
                for table in options.kinds:
                    self._kind_or_skip(table, run)
            ended = True
        except Paused:
            summary.paused = ended = True
        except (ClerkApiError, StorageError) as error:
            summary.failure, ended = str(error), True
        except (BotoCoreError, ClientError, PynamoDBException) as error:
            summary.failure, ended = str(StorageError(f"DynamoDB: {error}")), True
        finally:
            since.tally(summary, self.api.stats)
            summary.notes.extend(self.api.stats.notes[len(since.api.notes) :])
            if run is not None and run.saved:
                self._close(run, ended)
        return summary

    def _close(self, run: _Run, ended: bool) -> None:
        """Record how this invocation left the run (interrupted, e.g. Ctrl-C: failed, to resume)."""
        record, summary = run.record, run.summary
        if record is None:
            return
        if summary.failure or not ended:
            record.state = State.FAILED
        elif summary.paused:
            record.state = State.PAUSED
        else:
            record.state, record.ended_at = State.DONE, time.time()
        try:
            self._save(run)
        except (BotoCoreError, ClientError, StorageError) as error:
            summary.failure = summary.failure or f"the run record was not saved: {error}"

    def _save(self, run: _Run) -> None:
        if run.record is None or self.journal is None:
            return
        run.since.tally(run.summary, self.api.stats)
        if run.saved:
            self.journal.save(run.record)
        else:
            self.journal.create(run.record)
            run.saved = True

    # --- one kind ------------------------------------------------------------------------------

    def _kind_or_skip(self, table: Table, run: _Run) -> None:
        progress = run.record.progress[table] if run.record is not None else KindProgress()
        if progress.stage in (Stage.DONE, Stage.SKIPPED):
            return
        counts = run.summary.kinds.setdefault(table, KindCounts(table))
        parent = features.PARENT.get(table)
        if parent in run.summary.kinds and run.summary.kinds[parent].skipped:
            self._skip(counts, progress, features.skipped_with(parent), run)
            return
        try:
            self._kind(table, counts, progress, run)
        except FeatureNotEnabledError:
            self._skip(counts, progress, features.NOT_ENABLED, run)

    def _skip(self, counts: KindCounts, progress: KindProgress, reason: str, run: _Run) -> None:
        """The kind's feature is off on the instance: reported, never reconciled, the run goes on."""
        counts.skipped, counts.complete = reason, False
        progress.stage, progress.ended_at = Stage.SKIPPED, time.time()
        self._save(run)
        self.progress.note(f"{counts.table.value}: {reason}")

    def _kind(self, table: Table, counts: KindCounts, progress: KindProgress, run: _Run) -> None:
        summary, options = run.summary, run.options
        if progress.stage is Stage.PENDING:
            counts.total = self.api.total(table)
            progress.stage, progress.started_at = Stage.READING, time.time()
        self.progress.started(counts)
        state: Walk[Key] = Walk(
            seen=self._seen(table, counts, progress, run),
            pages=counts.pages,
            backtracks=counts.backtracks,
            gap=progress.gap,
            total=counts.total,
            offset=progress.offset,
            anchor=set(progress.anchor),
        )
        if progress.stage is Stage.READING:
            self._walk(table, counts, progress, state, run)
        if options.reconcile and LISTINGS[table].absence is Absence.NONE:
            self._note(summary, f"{table.value}: not reconciled: {LISTINGS[table].not_reconciled}")
        elif options.reconcile and counts.complete:
            self._check(run)
            self._reconcile(table, state.seen, counts, summary, options, run.pool)
        progress.stage, progress.ended_at = Stage.DONE, time.time()
        self._save(run)
        self.progress.finished(counts)

    def _seen(self, table: Table, counts: KindCounts, progress: KindProgress, run: _Run) -> set[Key]:
        """What earlier invocations of the run read of the kind: every key when it is reconciled (kept
        page by page), else the anchor (so that the overlap is not counted twice)."""
        if run.record is not None and self.journal is not None and run.options.reconcile and counts.pages:
            return self.journal.seen(run.summary.run_id, table, counts.pages)
        return set(progress.anchor)

    def _walk(
        self, table: Table, counts: KindCounts, progress: KindProgress, state: Walk[Key], run: _Run
    ) -> None:
        pages = paging.walk(
            lambda offset, limit: self.api.page(table, offset, limit),
            lambda obj: actions.object_key(table, obj),
            state,
            limit=run.options.page_size,
            overlap=run.options.overlap,
        )
        read = len(state.seen)
        for objects in pages:
            self._page(table, objects, counts, run.summary.run_id, run.options, run.pool)
            counts.read += len(state.seen) - read
            read = len(state.seen)
            counts.pages, counts.backtracks = state.pages, state.backtracks
            if counts.total is None:
                counts.total = state.total
            progress.offset, progress.anchor, progress.gap = state.offset, sorted(state.anchor), state.gap
            if state.done:
                counts.complete = state.complete and counts.malformed == 0
                progress.stage = Stage.READ
            self._record_page(table, objects, state.pages, run)
            self.progress.advanced(counts)
            if not state.done:
                self._check(run)
        if state.gap:
            self._note(
                run.summary,
                f"{table.value}: the list shifted too much during the read: it may be incomplete",
            )

    def _record_page(self, table: Table, objects: list[dict[str, Any]], page: int, run: _Run) -> None:
        """Save where the run stands (and, to reconcile after a resume, the keys the page read)."""
        if run.record is None or self.journal is None:
            return
        if run.options.reconcile:
            keys = (actions.object_key(table, obj) for obj in objects)
            self.journal.save_seen(run.summary.run_id, table, page, (k for k in keys if k is not None))
        self._save(run)

    def _check(self, run: _Run) -> None:
        if run.stop():
            raise Paused

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
                writes.append(self.store.as_stored(actions.synthesize(table, obj, run_id, now)))
            except InvalidEventError:
                counts.malformed += 1
        stored = self.stored.get(table, (actions.key_of(table, w.key) for w in writes), pool)
        tombstoned = self._tombstoned_parents(writes, pool)
        planned = [
            Decision(
                w,
                actions.classify(
                    w,
                    stored.get(actions.key_of(table, w.key)),
                    any(parent in tombstoned for parent in actions.parent_keys(w)),
                ),
            )
            for w in writes
        ]
        self._apply(planned, counts, options, pool)

    def _tombstoned_parents(self, writes: list[Write], pool: ThreadPoolExecutor) -> set[tuple[Table, Key]]:
        wanted: dict[Table, set[Key]] = {}
        for write in writes:
            for parent_table, parent_key in actions.parent_keys(write):
                wanted.setdefault(parent_table, set()).add(parent_key)
        return {
            (parent_table, key)
            for parent_table, keys in wanted.items()
            for key, record in self.stored.get(parent_table, keys, pool).items()
            if record.deleted
        }

    def _apply(
        self, planned: list[Decision], counts: KindCounts, options: Options, pool: ThreadPoolExecutor
    ) -> list[Decision]:
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
        live = dict(self.stored.live(table, LISTINGS[table].lookup_fields))
        candidates = actions.missing(live, seen)
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
            Decision(w, actions.classify(w, stored.get(key)))
            for key, w in ((key, actions.tombstone(table, key, summary.run_id, now)) for key in gone)
        ]
        counts.tombstoned = [p.key for p in self._apply(planned, counts, options, pool)]
        counts.reconciled = True
