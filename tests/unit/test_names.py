"""One meaning per name (issue 23): "plan" is a Clerk Billing plan, "bootstrap" the start-up wiring
package, a handler a Lambda entry point (handlers/), and each registry of kinds has a name of its own
(EFFECT_KINDS: side-effect messages; LISTINGS: what backfill lists). The names the code used for two
things before do not come back."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "clerk_sync"
RETIRED = {"KINDS", "Kind", "Plan", "PLANNERS", "Handler", "Planned"}
CLERK_PLAN = ("read/billing_records.py", "Plan")  # the read record of a Clerk Billing plan: the one meaning


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def module_names(tree: ast.Module) -> Iterator[str]:
    """The names a module defines at its top level (classes, functions, assignments)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            yield node.name
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id
        elif isinstance(node, ast.Assign):
            yield from (target.id for target in node.targets if isinstance(target, ast.Name))


def test_plan_bootstrap_and_kinds_have_one_meaning_each():
    paths = [path for path, _ in modules()]
    assert [path for path in paths if "plan" in Path(path).stem] == ["domain/entities/plans.py"]
    assert all(path.startswith("bootstrap/") for path in paths if "bootstrap" in path)
    defined = {(path, name) for path, tree in modules() for name in module_names(tree)}
    assert {(path, name) for path, name in defined if name in RETIRED} == {CLERK_PLAN}
    assert {(path, name) for path, name in defined if "KINDS" in name or "LISTINGS" in name} == {
        ("domain/effects.py", "EFFECT_KINDS"),
        ("adapters/clerk/listings.py", "LISTINGS"),
    }
