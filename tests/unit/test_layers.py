"""The layers of the Lambda package, as its folders say, checked on the import statements themselves.

- domain/: pure decisions: the standard library and other domain modules only;
- adapters/: AWS (boto3, PynamoDB, Powertools) and domain; never flows, wiring or entry points;
- app/: flows over domain and adapters; never wiring or entry points;
- bootstrap/: start-up wiring; handlers/: the Lambda entry points;
- settings.py: the only module that names environment variables;
- read/: the library applications import: domain and adapters, never flows, wiring, entry points or
  backfill;
- backfill/: imported by ReconcileFunction's wiring (bootstrap/reconcile.py) only; adapters/clerk/ (the
  Clerk API client) by backfill and the read library's first-use sync only (the webhook and worker
  bundles carry neither);
- no module imports itself back through others (every import statement counts, lazy ones too).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "clerk_sync"
STDLIB = set(sys.stdlib_module_names)


def modules(folder: str = "") -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module an import statement in `path` names (relative imports are not used here)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(str(node.module))
    return names


def name(path: Path) -> str:
    return ".".join(("clerk_sync", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
        ".__init__"
    )


def imports_graph() -> dict[str, set[str]]:
    """clerk_sync module -> the clerk_sync modules its import statements name (`from package import
    module` names the module)."""
    known = {name(path) for path in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                submodules = {f"{node.module}.{alias.name}" for alias in node.names}
                targets.update(submodules & known or {str(node.module)})
        graph[name(path)] = targets & known
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            group.append(module)
            if len(group) > 1 or module in graph[module]:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {"domain", "adapters", "app", "bootstrap", "handlers", "backfill", "read", "templates"}


@pytest.mark.parametrize("path", modules("domain"), ids=name)
def test_domain_imports_only_the_standard_library_and_domain(path):
    outside = {
        module
        for module in imported(path)
        if module.split(".")[0] not in STDLIB and not module.startswith("clerk_sync.domain")
    }
    assert not outside, f"{name(path)} imports {sorted(outside)}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "adapters",
            ("clerk_sync.app", "clerk_sync.bootstrap", "clerk_sync.handlers", "clerk_sync.backfill"),
        ),
        ("app", ("clerk_sync.bootstrap", "clerk_sync.handlers", "clerk_sync.backfill")),
        ("bootstrap", ("clerk_sync.handlers",)),  # (backfill: the test below)
    ],
)
def test_lower_layers_do_not_import_higher_ones(layer, forbidden):
    found = {
        f"{name(path)} -> {module}"
        for path in modules(layer)
        for module in imported(path)
        if module.startswith(forbidden)
    }
    assert not found


def test_only_reconcile_imports_backfill():
    found = {
        name(path)
        for path in modules()
        if "backfill" not in path.parts
        and any(module.startswith("clerk_sync.backfill") for module in imported(path))
    }
    assert found == {"clerk_sync.bootstrap.reconcile"}


def test_only_backfill_and_first_use_sync_import_the_clerk_api_client():
    found = {
        name(path)
        for path in modules()
        if not name(path).startswith(("clerk_sync.adapters.clerk", "clerk_sync.backfill"))
        and any(module.startswith("clerk_sync.adapters.clerk") for module in imported(path))
    }
    assert found == {"clerk_sync.read.first_use"}  # lazily, at the first `ensure_*` miss


def test_the_read_library_does_not_import_backfill():
    found = {
        f"{name(p)} -> {m}"
        for p in modules("read")
        for m in imported(p)
        if m.startswith("clerk_sync.backfill")
    }
    assert not found


def test_there_is_no_import_circle():
    assert circles(imports_graph()) == []


def test_a_circle_is_found_through_other_modules_and_lazy_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(graph) == [["a", "b", "c"], ["e"]]


def test_the_read_library_needs_no_flow_wiring_or_entry_point():
    forbidden = ("clerk_sync.app", "clerk_sync.bootstrap", "clerk_sync.handlers", "clerk_sync.observability")
    found = {f"{name(p)} -> {m}" for p in modules("read") for m in imported(p) if m.startswith(forbidden)}
    assert not found


def test_only_settings_reads_the_environment():
    found = {
        name(path)
        for path in modules()
        if path.name != "settings.py" and any(word in path.read_text() for word in ("os.environ", "getenv("))
    }
    assert not found


def test_one_module_per_clerk_entity():
    entities = {p.stem for p in (PACKAGE / "domain" / "entities").glob("*.py")} - {"__init__"}
    assert entities == {
        "users",
        "organizations",
        "memberships",
        "sessions",
        "emails",
        "sms",
        "invitations",
        "roles",
        "permissions",
        "domains",
        "waitlist",
        "subscriptions",
        "subscription_items",
        "payment_attempts",
        "plans",
    }
