"""The extension point: an application's own handlers for an effect kind.

Register them in a module of your own and name it in `CLERK_SYNC_EXTENSIONS` (comma-separated module
paths, imported once when the worker starts)::

    # functions/my_app/effects.py
    from clerk_sync.app.extensions import register

    @register("user_cleanup")
    def delete_uploads(message: EffectMessage) -> None:
        bucket.delete_prefix(f"users/{message.target}/")

Handlers run after the built-in effect, inside the same idempotent unit: a duplicate message does not
run them again, and an exception makes the message fail and be retried (so make them idempotent too).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from clerk_sync.domain.effects import EFFECT_KINDS, EffectMessage

Extension = Callable[[EffectMessage], None]
_registry: dict[str, list[Extension]] = {}


def register(kind: str) -> Callable[[Extension], Extension]:
    """Decorator: run the function for every message of `kind`."""
    if kind not in EFFECT_KINDS:
        raise ValueError(f"unknown effect kind {kind!r}; known: {', '.join(sorted(EFFECT_KINDS))}")

    def decorate(function: Extension) -> Extension:
        _registry.setdefault(kind, []).append(function)
        return function

    return decorate


def handlers_for(kind: str) -> list[Extension]:
    """The registered extensions of a kind, in registration order."""
    return list(_registry.get(kind, ()))


def load(modules: Iterable[str]) -> None:
    """Import the application's extension modules (their decorators register the handlers)."""
    for module in modules:
        importlib.import_module(module)


def clear() -> None:
    """Forget every registration (tests)."""
    _registry.clear()
