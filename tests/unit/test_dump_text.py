"""`clerk-sync dump`'s text view: every synced table renders its own meaningful columns (plans with their
features' slugs), each a field its records really store, and each record's version as what it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from clerk_sync.domain.entities.plans import plan_write
from clerk_sync.domain.entities.subscription_items import item_version
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import Table
from clerk_sync.domain.writes import Write
from clerk_sync_local.cli.dump import COLUMNS, TABLES, render_text
from clerk_sync_local.cli.send import SAMPLES_DIR, freshen, sample_types
from fakes.clerk_api import clerk_plan

NOW_MS = 1_780_000_000_123  # 2026-05-28 20:26:40.123 UTC


def sample_writes() -> list[tuple[dict[str, Any], Write]]:
    """Each bundled sample's write (as `clerk-sync send` would post it now), and backfill's of a plan."""
    found = []
    for name in sample_types():
        payload = freshen(json.loads((SAMPLES_DIR / f"{name}.json").read_text()), NOW_MS)
        write = changes_of(parse_event(json.dumps(payload).encode(), "msg_1", NOW_MS // 1000)).write
        if write is not None:
            found.append((payload, write))
    plan_object = clerk_plan("cplan_pro", ("seats",))
    return [*found, (plan_object, plan_write(plan_object, "backfill:1", NOW_MS))]


def test_every_synced_table_has_a_text_view_and_plans_show_their_features() -> None:
    plan_item = {"id": "cplan_pro", "slug": "pro", "for_payer_type": "user", "version": 1_700_000_000_000}
    plan_item["features"] = [{"id": "feat_seats", "slug": "seats"}, {"id": "feat_sso", "slug": "sso"}]
    data = {table: [] for table in TABLES} | {"plans": [plan_item], "invitations": [{"id": "orginv_1"}]}

    text = render_text(data)

    assert set(TABLES) == {table.value for table in Table} == set(COLUMNS)
    assert all(f"{table} (" in text for table in TABLES)
    assert "  cplan_pro  pro   user            seats,sso" in text
    assert "orginv_1" in text


def test_each_tables_columns_are_fields_its_records_store_beyond_the_key() -> None:
    """A column no write fills would show blank forever (every table had only id, deleted and version)."""
    stored: dict[str, set[str]] = {table: {"deleted"} for table in TABLES}
    for _, write in sample_writes():
        stored[write.table.value] |= set(write.item)
    for table in TABLES:
        columns = COLUMNS[table]
        assert set(columns) <= stored[table], f"{table}: {set(columns) - stored[table]} never stored"
        assert set(columns) - {"id", "deleted", "version"}, f"{table} shows only its key"


def test_a_subscription_items_row_shows_its_plan_status_period_and_rank() -> None:
    item = {
        "id": "csub_item_1",
        "payer_id": "cpayer_1",
        "plan": {"id": "cplan_pro", "slug": "pro"},
        "status": "canceled",
        "period_end": NOW_MS + 86_400_000,
        "version": item_version(NOW_MS, "canceled"),
    }
    [_, header, row] = render_text({"subscription_items": [item]}).splitlines()
    assert header.split() == [
        "id", "payer_id", "plan", "status", "period_end", "(UTC)", "deleted", "version", "(UTC)",
    ]  # fmt: skip
    assert row.split() == [
        "csub_item_1", "cpayer_1", "pro", "canceled", "2026-05-29", "20:26:40",
        "2026-05-28", "20:26:40", "rank", "6", "(canceled)",
    ]  # fmt: skip


def test_every_records_version_shows_the_time_it_comes_from() -> None:
    """`updated_at`, the event's `timestamp`, or backfill's clock; a subscription item's version (the
    timestamp × 10 + its status's rank) as that time and the rank, not as a date in the 26th century."""
    for payload, write in sample_writes():
        source = write.sources.get("version", "data.updated_at")
        at_ms = payload["data"]["updated_at"] if source == "data.updated_at" else NOW_MS
        assert source in ("data.updated_at", "timestamp", "the backfill run's clock")
        expected = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if write.table is Table.SUBSCRIPTION_ITEMS:
            status = write.item["status"]
            expected += f" rank {write.version % 10} ({status})"
        rows = render_text({write.table.value: [write.item]}).splitlines()
        assert rows[2].endswith(f"  {expected}"), (write.table, rows)
