"""`clerk-sync send --set PATH=VALUE` and `--add PATH=VALUE`: change one field of an event's JSON.

PATH is dotted, list items by index (`data.email_addresses.0.email_address`). `--set` changes a field
that exists, and an unknown path is an error naming the closest existing field (a typo never passes
silently); `--add` creates a field that does not exist yet (and the objects on the way to it).

VALUE follows one rule: when it is valid JSON it is that JSON value (`123` a number, `true`, `null`,
`{"a": 1}`, `"123"` the string 123), anything else is the text as typed (`Ann`, `user_2…`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

VALUE_RULE = (
    "VALUE is JSON when it parses as JSON (123, true, null, {...}; '\"123\"' for the text 123), "
    "else the text as typed"
)


class OverrideError(Exception):
    """An assignment that cannot be applied; the message names the field and what to do."""


@dataclass(frozen=True)
class Override:
    """One `--set` (add=False) or `--add` (add=True), as typed."""

    assignment: str
    add: bool = False

    @property
    def flag(self) -> str:
        return "--add" if self.add else "--set"


def parse_value(raw: str) -> Any:
    """The documented rule: a JSON value when `raw` is JSON, else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def field_paths(value: Any, prefix: str = "") -> list[str]:
    """Every dotted path in a JSON value, objects and list items included, in document order."""
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(str(key), inner) for key, inner in value.items()]
    elif isinstance(value, list):
        items = [(str(index), inner) for index, inner in enumerate(value)]
    paths = []
    for key, inner in items:
        path = f"{prefix}.{key}" if prefix else key
        paths += [path, *field_paths(inner, path)]
    return paths


def apply(payload: Any, override: Override) -> None:
    """Apply one assignment to `payload` in place; OverrideError when it cannot be."""
    path, sep, raw = override.assignment.partition("=")
    if not sep or not path:
        raise OverrideError(
            f"{override.flag} {override.assignment!r}: expected PATH=VALUE, like data.first_name=Ann"
        )
    value = parse_value(raw)
    exists = path in field_paths(payload)
    if override.add and exists:
        raise OverrideError(f"--add {path}: the field exists already, change it with --set {path}=…")
    if not override.add and not exists:
        raise OverrideError(_unknown(payload, path, raw))
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = _child(node, part, path, create=override.add)
    if isinstance(node, list):
        node[_index(node, last, path)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise OverrideError(f"{override.flag} {path}: {'.'.join(parents)} is not an object or a list")


def _unknown(payload: Any, path: str, raw: str) -> str:
    """The error for `--set` on a path the event does not have."""
    node = payload
    for depth, part in enumerate(path.split(".")):
        if isinstance(node, list) and part.isdigit() and int(part) >= len(node):
            where = ".".join(path.split(".")[:depth])
            return f"--set {path}: {part!r} is not an index of {where}, a list of {len(node)}"
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            break
    close = difflib.get_close_matches(path, field_paths(payload), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else _top_level_hint(payload)
    return f"--set {path}: the event has no such field ({hint}); to add a new field: --add {path}={raw}"


def _top_level_hint(payload: Any) -> str:
    keys = ", ".join(str(key) for key in payload) if isinstance(payload, dict) else ""
    return f"its top-level fields: {keys}; `clerk-sync send TYPE --print` shows them all"


def _child(node: Any, part: str, path: str, *, create: bool) -> Any:
    """The item at `part`; with `create`, an empty object made for a missing key."""
    if isinstance(node, list):
        return node[_index(node, part, path)]
    if isinstance(node, dict):
        return node.setdefault(part, {}) if create else node[part]
    raise OverrideError(f"--add {path}: cannot go into {part!r}, its parent is not an object or a list")


def _index(items: list[Any], part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise OverrideError(f"{path}: {part!r} is not an index of a list of {len(items)}")
    return int(part)
