"""A run's record: what `--resume`, `--status` and ReconcileFunction's hand-over need to know of a run
(no I/O; journal.py keeps it in DynamoDB).

Per kind: its counts so far (report.KindCounts), where its walk stands (the offset and anchor after the
last completed page, paging.Walk) and its stage. A run is `running` while a process works on it,
`paused` when ReconcileFunction handed it over before its timeout, `failed` when something stopped it,
`done` when every kind is done; `paused` and `failed` runs are unfinished: `--resume` continues them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from clerk_sync.adapters.clerk.listings import Key
from clerk_sync.backfill.actions import Action
from clerk_sync.backfill.report import KindCounts, Summary
from clerk_sync.domain.tables import Table

KEPT_TOMBSTONES = 100  # tombstoned keys a record keeps per kind (the count is kept whole)


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # handed over before a timeout: the next invocation continues it
    FAILED = "failed"
    DONE = "done"

    @property
    def unfinished(self) -> bool:
        return self is not State.DONE


class Stage(StrEnum):
    """Where one kind stands."""

    PENDING = "pending"
    READING = "reading"  # pages are being read: `offset` and `anchor` say where the next one starts
    READ = "read"  # the walk is over; reconcile (if asked) is left
    DONE = "done"
    SKIPPED = "skipped"  # its feature is off on the instance


@dataclass
class KindProgress:
    """Where one kind's walk stands, and when it started and ended (epoch seconds)."""

    stage: Stage = Stage.PENDING
    offset: int = 0
    anchor: list[Key] = field(default_factory=list)
    gap: bool = False
    started_at: float | None = None
    ended_at: float | None = None


@dataclass
class RunRecord:
    """One run: its options (run.Options as a dict), counts, per-kind progress and state."""

    summary: Summary
    options: dict[str, Any]
    source: str  # "cli" or "reconcile": who started it
    started_at: float
    progress: dict[Table, KindProgress] = field(default_factory=dict)
    state: State = State.RUNNING
    updated_at: float = 0.0
    ended_at: float | None = None

    @property
    def run_id(self) -> str:
        return self.summary.run_id


def dump(record: RunRecord) -> str:
    """The record as JSON (state and updated_at are kept beside it, journal.py)."""
    summary = record.summary
    return json.dumps(
        {
            "run_id": summary.run_id,
            "dry_run": summary.dry_run,
            "reconcile": summary.reconcile,
            "options": record.options,
            "source": record.source,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "seconds": summary.seconds,
            "api_requests": summary.api_requests,
            "lenient_pages": summary.lenient_pages,
            "waits": summary.waits,
            "waited_seconds": summary.waited_seconds,
            "notes": summary.notes,
            "failure": summary.failure,
            "kinds": [_dump_kind(counts, record.progress[table]) for table, counts in summary.kinds.items()],
            "pending": [table.value for table, p in record.progress.items() if table not in summary.kinds],
        },
        separators=(",", ":"),
    )


def _dump_kind(counts: KindCounts, progress: KindProgress) -> dict[str, Any]:
    plain = asdict(counts)
    plain["table"] = counts.table.value
    plain["actions"] = {action.value: n for action, n in counts.actions.items()}
    plain["tombstoned"] = [list(key) for key in counts.tombstoned[:KEPT_TOMBSTONES]]
    return {"counts": plain, "progress": {**asdict(progress), "anchor": [list(k) for k in progress.anchor]}}


def load(text: str, state: State, updated_at: float) -> RunRecord:
    """The record `dump` wrote."""
    plain = json.loads(text)
    summary = Summary(
        run_id=plain["run_id"],
        dry_run=plain["dry_run"],
        reconcile=plain["reconcile"],
        api_requests=plain["api_requests"],
        lenient_pages=plain["lenient_pages"],
        waits=plain["waits"],
        waited_seconds=plain["waited_seconds"],
        seconds=plain["seconds"],
        notes=list(plain["notes"]),
        failure=plain["failure"],
    )
    progress: dict[Table, KindProgress] = {}
    for kind in plain["kinds"]:
        counts = kind["counts"]
        table = Table(counts["table"])
        summary.kinds[table] = KindCounts(
            **{
                **counts,
                "table": table,
                "actions": {Action(name): n for name, n in counts["actions"].items()},
                "tombstoned": [tuple(key) for key in counts["tombstoned"]],
            }
        )
        stored = kind["progress"]
        progress[table] = KindProgress(
            **{**stored, "stage": Stage(stored["stage"]), "anchor": [tuple(k) for k in stored["anchor"]]}
        )
    for name in plain["pending"]:
        progress[Table(name)] = KindProgress()
    return RunRecord(
        summary=summary,
        options=plain["options"],
        source=plain["source"],
        started_at=plain["started_at"],
        progress=progress,
        state=state,
        updated_at=updated_at,
        ended_at=plain["ended_at"],
    )


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_status(records: list[RunRecord]) -> list[str]:
    """`clerk-sync backfill --status`: each run (newest first), then a line per kind."""
    if not records:
        return ["no backfill runs recorded"]
    lines: list[str] = []
    for record in records:
        summary = record.summary
        mode = " with reconcile" if summary.reconcile else ""
        lines.append(
            f"run {summary.run_id} ({record.source}{mode}): {record.state.value}, started "
            f"{_when(record.started_at)} UTC, last progress {_when(record.updated_at)} UTC, "
            f"{summary.seconds:.0f} s, {summary.api_requests} Clerk API requests"
        )
        if summary.failure:
            lines.append(f"  stopped: {summary.failure}")
        for table, progress in record.progress.items():
            counts = summary.kinds.get(table)
            if counts is None or counts.skipped:
                reason = f" ({counts.skipped})" if counts is not None else ""
                lines.append(f"  {table.value:<18} {progress.stage.value}{reason}")
                continue
            stale = counts.actions[Action.STALE]
            lines.append(
                f"  {table.value:<18} {progress.stage.value:<8} pages {counts.pages:>6}"
                f"  read {counts.read:>9,}  written {counts.written:>9,}  stale {stale:>7,}"
            )
    return lines
