"""The loop both local event source mappings run (queue_worker.py, stream_worker.py): poll until told to
stop, one terminal line per batch, an engine's error said once and retried a second later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

R = TypeVar("R")


def poll_until_stopped(
    stop: threading.Event,
    say: Callable[[str], None],
    name: str,
    poll: Callable[[], R | None],
    describe: Callable[[R], str],
    idle: Callable[[], float] = lambda: 0.0,
) -> None:
    """Call `poll` until `stop` is set; print `describe` of each result; after None, wait `idle()` s.
    An exception (an engine going away, a throttled call, an expired iterator) is printed once, under
    `name`, and the poll retried after a second."""
    last_error = ""
    while not stop.is_set():
        try:
            result = poll()
        except Exception as error:
            if stop.is_set():
                return
            if str(error) != last_error:
                say(f"{datetime.now():%H:%M:%S}  {name}: {error}; retrying")
            last_error = str(error)
            stop.wait(1)
            continue
        last_error = ""
        if result is not None:
            say(describe(result))
        else:
            stop.wait(idle())
