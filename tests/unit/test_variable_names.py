"""settings.py is the only module that names the project's environment variables, but for the synced
tables' own, declared with their tables in domain/tables.py (settings derives TABLE_VARIABLES from it):
every other Python module under functions/, infra/ and examples/ imports the constants instead of
spelling a name again."""

from __future__ import annotations

import ast
from pathlib import Path

from clerk_sync import settings
from clerk_sync.domain.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "functions" / "clerk_sync" / "settings.py"
DECLARATION = ROOT / "functions" / "clerk_sync" / "domain" / "tables.py"
FOLDERS = ("functions", "infra", "examples")


def declared() -> set[str]:
    """Every variable name settings.py declares: its `…_ENV` constants and the tables' variables."""
    names = {
        value for name, value in vars(settings).items() if name.endswith("_ENV") and isinstance(value, str)
    }
    return names | set(settings.TABLE_VARIABLES.values())


def string_constants(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module (a docstring or message naming a variable is no literal *of* it)."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_settings_declares_the_variables_the_tooling_names():
    assert {"SENDER_EMAIL", "SIDE_EFFECTS_QUEUE_URL", "USERS_TABLE", "AWS_REGION"} <= declared()


def test_no_other_module_spells_a_variable_name_of_settings():
    names = declared()
    own = {SETTINGS: names, DECLARATION: {spec.variable for spec in TABLES.values()}}
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, value in string_constants(path)
        if value in names and value not in own.get(path, ())
    ]
    assert not found, "import the constant from clerk_sync.settings instead:\n" + "\n".join(found)
