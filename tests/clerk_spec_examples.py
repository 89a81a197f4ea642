"""Clerk's published example payloads: the example of every event type in Clerk's webhook spec
(clerk/openapi-specs `webhooks/2025-04-15.yml`), one committed JSON file per type under
tests/fixtures/clerk_spec_examples/, as the spec has it (the whole envelope).

Tests read them with `spec_example_types()` and `spec_example(type)`; nothing is fetched at run time.
To regenerate them from a newer copy of the spec (run by hand, never by the suite):

    .venv/bin/python tests/clerk_spec_examples.py path/to/webhooks/2025-04-15.yml

and update the commit and date in the fixtures' README.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "clerk_spec_examples"


def spec_example_types() -> list[str]:
    """The event types with a committed example, sorted."""
    return sorted(path.name.removesuffix(".json") for path in FIXTURES_DIR.glob("*.json"))


def spec_example(event_type: str) -> dict[str, Any]:
    """The spec's example envelope of `event_type`."""
    loaded: dict[str, Any] = json.loads((FIXTURES_DIR / f"{event_type}.json").read_text())
    return loaded


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its `$ref` (a local `#/…` pointer) points at."""
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every event type's example envelope in the spec: its `example`, or the value of its only
    (`default`) entry of `examples`."""
    found: dict[str, dict[str, Any]] = {}
    for event_type, operations in spec["x-webhooks"].items():
        content = operations["post"]["requestBody"]["content"]["application/json"]
        if "example" in content:
            example = content["example"]
        else:
            (entry,) = content["examples"].values()
            example = _resolve(spec, entry)["value"]
        if example.get("type") != event_type:
            raise ValueError(f"{event_type}: the example is of type {example.get('type')!r}")
        found[event_type] = example
    return found


def _plain(value: Any) -> Any:
    """JSON as the spec's author wrote it: YAML reads an unquoted date as a date, JSON has none."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        raise ValueError(f"an unquoted date in an example: {value!r}")
    return value


def regenerate(spec_path: Path) -> list[str]:
    """Write one fixture per event type of the spec at `spec_path` (removing those of types it no longer
    has); the types written."""
    import yaml  # only here: the suite never regenerates

    spec = yaml.safe_load(spec_path.read_text())
    examples = examples_of(spec)
    for stale in FIXTURES_DIR.glob("*.json"):
        if stale.name.removesuffix(".json") not in examples:
            stale.unlink()
    for event_type, example in examples.items():
        text = json.dumps(_plain(example), indent=2, ensure_ascii=False)
        (FIXTURES_DIR / f"{event_type}.json").write_text(text + "\n")
    return sorted(examples)


if __name__ == "__main__":
    written = regenerate(Path(sys.argv[1]))
    print(f"{len(written)} examples written to {FIXTURES_DIR}")
