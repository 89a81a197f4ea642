"""The README's schema and table-variable sections are the ones made from the declaration
(domain/tables.py): `make readme` rewrites them, and this test fails while they are stale."""

from __future__ import annotations

import pytest
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync_local.readme_tables import README, SECTIONS, markers, rewritten, written_by


def test_the_readme_sections_are_current():
    text = README.read_text()
    assert rewritten(text) == text, "run `make readme`"


def test_a_stale_section_is_made_anew_and_a_missing_marker_is_an_error():
    text = README.read_text()
    stale = text.replace("| `USERS_TABLE` | users |", "| `USERS_TABLE` | people |")
    assert stale != text and rewritten(stale) == text
    start, _ = markers(next(iter(SECTIONS)))
    with pytest.raises(ValueError, match="lacks the markers"):
        rewritten(text.replace(start, ""))


def test_every_table_webhooks_write_has_a_sample_that_writes_it():
    writers = written_by()
    for table, spec in TABLES.items():
        assert bool(writers.get(table)) == spec.from_webhooks, table
    assert "user.deleted" in writers[Table.USERS]
