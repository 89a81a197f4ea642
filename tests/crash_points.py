"""Preloaded into a SideEffectsFunction process container: the process dies once, at a chosen point
of a clean-up part (os._exit: no handler, `finally` or idempotency update runs, as when Lambda kills it).

CRASH_AT: `before_send` (part CRASH_PART's tombstones are written, its continuation is not sent) or
`after_send` (the continuation is sent, the part's idempotency record is not completed).
CRASH_MARKER: a file created at the crash, so that only the first container dies.
"""

from __future__ import annotations

import os
from pathlib import Path

from clerk_sync.adapters.sqs import SideEffectsQueue
from clerk_sync.domain.effects import Effect

_send = SideEffectsQueue.send
_at, _part, _marker = os.environ["CRASH_AT"], int(os.environ["CRASH_PART"]), Path(os.environ["CRASH_MARKER"])


def _crashing_send(self: SideEffectsQueue, effect: Effect) -> None:
    if effect.get("part") == _part + 1 and not _marker.exists():
        if _at == "after_send":
            _send(self, effect)
        _marker.touch()
        os._exit(137)
    _send(self, effect)


SideEffectsQueue.send = _crashing_send  # type: ignore[method-assign]
