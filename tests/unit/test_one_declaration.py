"""Each table's variable and each index's name is spelled in exactly one Python module outside the
tests (template.yaml aside): the synced tables' in their declaration (domain/tables.py), the functions'
own table's in settings.py and claims.py. Docstrings and help texts count: they name the declaration or
are made from it."""

from __future__ import annotations

import re
from pathlib import Path

from clerk_sync.adapters.claims import UNCONFIRMED_INDEX
from clerk_sync.domain.tables import TABLES
from clerk_sync.settings import IDEMPOTENCY_TABLE_ENV

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("functions", "infra", "examples")
DECLARATION = "functions/clerk_sync/domain/tables.py"


def modules_spelling(name: str) -> set[str]:
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return {
        str(path.relative_to(ROOT))
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    }


def test_each_table_variable_is_spelled_in_one_module():
    for spec in TABLES.values():
        assert modules_spelling(spec.variable) == {DECLARATION}, spec.variable
    assert modules_spelling(IDEMPOTENCY_TABLE_ENV) == {"functions/clerk_sync/settings.py"}


def test_each_index_name_is_spelled_in_one_module():
    for index in {i.name for spec in TABLES.values() for i in spec.indexes}:
        assert modules_spelling(index) == {DECLARATION}, index
    assert modules_spelling(UNCONFIRMED_INDEX) == {"functions/clerk_sync/adapters/claims.py"}
