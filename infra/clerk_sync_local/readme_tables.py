"""The README's schema and table-variable sections, made from the one declaration (domain/tables.py).

`python -m clerk_sync_local.readme_tables` (`make readme`) rewrites what lies between each section's
markers; tests/unit/test_readme_tables.py fails while the README holds anything else there. Which
events write a table is found by planning each signed sample (infra/clerk_sync_local/samples/), so the
column says what the code does.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import BOOKKEEPING, TABLES, Field, FieldType, Table, TableSpec
from clerk_sync.settings import DEFAULT_TABLES, IDEMPOTENCY, TABLE_VARIABLES

from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types

README = Path(__file__).resolve().parents[2] / "README.md"
TYPE_WORDS = {
    FieldType.TEXT: "string",
    FieldType.NUMBER: "number",
    FieldType.FLAG: "boolean",
    FieldType.MAP: "map",
    FieldType.TEXTS: "list of strings",
    FieldType.RECORD: "map",
    FieldType.RECORDS: "list of maps",
    FieldType.COMPRESSED: "binary (zlib of JSON, preset dictionary)",
}


def written_by() -> Mapping[Table, list[str]]:
    """The sample event types whose changes write each table, in the samples' order."""
    found: dict[Table, list[str]] = defaultdict(list)
    for event_type in sample_types():
        body = (SAMPLES_DIR / f"{event_type}.json").read_bytes()
        write = changes_of(parse_event(body, "msg_readme", 0)).write
        if write is not None:
            found[write.table].append(event_type)
    return found


def _types(event_types: Iterable[str]) -> str:
    """`user.created / updated / deleted`: one resource's actions after its first type."""
    shown: list[str] = []
    resource = ""
    for event_type in event_types:
        name, action = event_type.rsplit(".", 1)
        shown.append(action if name == resource else event_type)
        resource = name
    return " / ".join(shown)


def _indexes(spec: TableSpec) -> str:
    return ", ".join(f"`{i.name}` on {' + '.join(f'`{k}`' for k in i.key_names)}" for i in spec.indexes)


def _field(field: Field) -> str:
    inner = f" ({', '.join(_field(f) for f in field.fields)})" if field.fields else ""
    personal = " *" if field.personal else ""
    return f"`{field.name}`{personal} {TYPE_WORDS[field.type]}{inner}"


def schema() -> str:
    """The tables (variable, default name, key, indexes, writers) and each one's attributes."""
    writers = written_by()
    rows = [
        "| table (variable, default name) | key | indexes | written by |",
        "|---|---|---|---|",
    ]
    for table, spec in TABLES.items():
        written = _types(writers[table]) if spec.from_webhooks else "backfill and reconcile only"
        rows.append(
            f"| {table.value} (`{spec.variable}`, `{spec.default_name}`) "
            f"| {' + '.join(f'`{k}`' for k in spec.key_names)} | {_indexes(spec) or '—'} | {written} |"
        )
    attributes = [
        f"- **{table.value}**: {', '.join(_field(f) for f in spec.fields)}"
        + (f"; parents: {', '.join(p.table.value for p in spec.parents)}" if spec.parents else "")
        + ("; tombstones are final" if spec.final_tombstones else "")
        for table, spec in TABLES.items()
    ]
    every = ", ".join(_field(f) for f in BOOKKEEPING)
    return "\n".join(
        [
            *rows,
            "",
            *attributes,
            f"- every record: {every}.",
            "",
            "`*`: personal data, or free-form data that may hold it (kept out of logs at INFO and above).",
        ]
    )


def table_variables() -> str:
    """The table of the variables naming the tables (every function reads each of them)."""
    own = TABLE_VARIABLES[IDEMPOTENCY]
    return "\n".join(
        [
            "| variable | names the table | default |",
            "|---|---|---|",
            *(f"| `{s.variable}` | {table.value} | `{s.default_name}` |" for table, s in TABLES.items()),
            f"| `{own}` | the functions' own (idempotency, claims, large bodies) | `{DEFAULT_TABLES[own]}` |",
        ]
    )


SECTIONS = {"schema": schema, "table-variables": table_variables}


def markers(name: str) -> tuple[str, str]:
    """The comment lines a section lies between."""
    return f"<!-- {name}: made by `make readme` from domain/tables.py -->", f"<!-- /{name} -->"


def rewritten(text: str) -> str:
    """`text` with every section's content made anew (ValueError: a section's markers are missing)."""
    for name, render in SECTIONS.items():
        start, end = markers(name)
        before, found, rest = text.partition(start + "\n")
        _, closed, after = rest.partition(end)
        if not (found and closed):
            raise ValueError(f"README.md lacks the markers of {name}")
        text = f"{before}{start}\n{render()}\n{end}{after}"
    return text


def main(argv: list[str]) -> int:
    """Rewrite the README's sections in place (`--check`: only say whether they are current)."""
    current = README.read_text()
    fresh = rewritten(current)
    if "--check" in argv:
        print(json.dumps({"current": fresh == current}))
        return 0 if fresh == current else 1
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
