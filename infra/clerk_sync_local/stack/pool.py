"""Several containers of one function, invoked concurrently as Lambda scales out (load and chaos runs).

`clerk-sync dev` runs one invocation at a time (its functions share Powertools' module state in one
process); a pool instead holds independent containers — e.g. receivers built with `build_receiver`,
each with its own clients and caches — and hands each request to a free one.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.functions import Invocation

Container = Callable[[dict[str, Any], LambdaContext], Any]


class ContainerPool:
    """Invokes a free container; a container that raises anything (even a BaseException, as a dying
    runtime would) yields an error Invocation, which a Function URL answers with 502."""

    def __init__(self, logical_id: str, containers: Sequence[Container], timeout_seconds: float) -> None:
        self.logical_id = logical_id
        self._timeout = timeout_seconds
        self._free: queue.Queue[Container] = queue.Queue()
        for container in containers:
            self._free.put(container)

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run the event on the next free container."""
        container = self._free.get()
        started = time.perf_counter()
        try:
            context = cast(LambdaContext, LocalContext(self.logical_id, self._timeout))
            result, error = container(event, context), None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the runtime died: Lambda reports it, the caller sees an error
            result, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            self._free.put(container)
        return Invocation(result=result, error=error, ms=(time.perf_counter() - started) * 1000)
