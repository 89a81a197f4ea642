"""The terminal's progress line: objects, pages, writes, rate, and ETA where the total is known."""

from __future__ import annotations

import io
import time

import pytest
from clerk_sync.backfill.actions import Action
from clerk_sync.backfill.report import KindCounts
from clerk_sync.domain.tables import Table
from clerk_sync_local.cli.backfill import BarProgress


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def last_line(stream: io.StringIO) -> str:
    return stream.getvalue().split("\r\x1b[2K")[-1]


def test_a_known_total_gives_an_eta_from_this_process_rate(clock: list[float]) -> None:
    stream = io.StringIO()
    bar = BarProgress(stream)
    users = KindCounts(Table.USERS, total=10_000, read=1_000, pages=2)  # resumed: 1,000 read before
    bar.started(users)
    clock[0] += 10
    users.read, users.pages = 3_000, 6
    users.actions[Action.CREATE] = 2_000

    bar.advanced(users)

    line = last_line(stream)
    assert "3,000/10,000  30%" in line and "6 pages  2,000 written  200/s  ETA 0m35s" in line


def test_without_a_total_the_elapsed_time_is_shown(clock: list[float]) -> None:
    stream = io.StringIO()
    bar = BarProgress(stream)
    roles = KindCounts(Table.ROLES)
    bar.started(roles)
    clock[0] += 75
    roles.read, roles.pages = 40, 1

    bar.advanced(roles)

    assert "40  1 pages  0 written  1/s  elapsed 1m15s" in last_line(stream)
