"""`clerk-sync dump`'s text view: every synced table renders (plans with their features' slugs)."""

from __future__ import annotations

from clerk_sync.domain.tables import Table
from clerk_sync_local.cli.dump import TABLES, render_text


def test_every_synced_table_has_a_text_view_and_plans_show_their_features() -> None:
    plan = {"id": "cplan_pro", "slug": "pro", "for_payer_type": "user", "version": 1_700_000_000_000}
    plan["features"] = [{"id": "feat_seats", "slug": "seats"}, {"id": "feat_sso", "slug": "sso"}]
    data = {table: [] for table in TABLES} | {"plans": [plan], "invitations": [{"id": "orginv_1"}]}

    text = render_text(data)

    assert set(TABLES) == {table.value for table in Table}
    assert all(f"{table} (" in text for table in TABLES)
    assert "  cplan_pro  pro   user            seats,sso" in text
    assert "orginv_1" in text
