"""A function container in a process of its own, killed when an invocation overruns its timeout.

Lambda kills the process at the function's timeout: nothing of the handler runs after that (no
`finally`, no idempotency record completed), the whole batch returns to the queue, and the next
invocation starts a new container (its init runs again). In-process stand-ins cannot show that; this
one can. The parent starts `python -m clerk_sync_local.stack.process_function`, which imports the handler
(init, not counted in the timeout), answers `ready`, then runs one event per line of its stdin with a
LocalContext carrying the timeout, answering one JSON line per event on a private pipe. The handler's
own stdout and stderr (its logs) go to a file.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.functions import Invocation

# Lambda's init phase limit; an init that runs over it is retried within the first invocation, under
# the function's timeout: so the longer of the two bounds an init here.
INIT_TIMEOUT_SECONDS = 10.0


class ProcessFunction:
    """An Invoker running `handler` ("module.function") in a child process with `environ`.

    `killed` counts invocations stopped at their timeout, `died` those whose process exited by
    itself (a crash), `starts` the containers started (cold starts).
    """

    def __init__(
        self,
        logical_id: str,
        handler: str,
        environ: Mapping[str, str],
        timeout_seconds: float,
        log_path: Path,
        preload: Sequence[str] = (),
    ) -> None:
        self.logical_id = logical_id
        self._command = [
            sys.executable,
            "-m",
            "clerk_sync_local.stack.process_function",
            logical_id,
            handler,
            str(timeout_seconds),
            *preload,
        ]
        self._environ = dict(environ)
        self._timeout = timeout_seconds
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.killed = self.died = self.starts = 0

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run one event; an overrun kills the process (the next event starts a new one)."""
        process = self._running()
        started = time.perf_counter()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(event).encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass  # it died already: the read below reports it
        answer = self._read_line(process, time.monotonic() + self._timeout)
        ms = (time.perf_counter() - started) * 1000
        if answer is None:
            self.stop()
            self.killed += 1
            return Invocation(result=None, error=f"Task timed out after {self._timeout:.2f} seconds", ms=ms)
        if answer == b"":
            code = process.wait()
            self._process = None
            self.died += 1
            return Invocation(result=None, error=f"Runtime exited with error: exit status {code}", ms=ms)
        reply = json.loads(answer)
        return Invocation(result=reply.get("result"), error=reply.get("error"), ms=ms)

    def stop(self) -> None:
        """Kill the container, if one is running."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None:
            return self._process
        with open(self._log_path, "ab") as log:
            process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._environ,
            )
        self._process, self._buffer = process, b""
        self.starts += 1
        init_limit = max(INIT_TIMEOUT_SECONDS, self._timeout)
        if self._read_line(process, time.monotonic() + init_limit) != b'{"ready": true}':
            self.stop()
            raise RuntimeError(f"{self.logical_id} failed its init: see {self._log_path}")
        return process

    def _read_line(self, process: subprocess.Popen[bytes], deadline: float) -> bytes | None:
        """The next line (without its newline), b"" when the process exited, None at the deadline."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


def _serve(logical_id: str, handler_path: str, timeout: float, preload: Sequence[str]) -> None:
    """The child: init, then one invocation per line of stdin."""
    replies: IO[str] = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the handler's stdout (Powertools logs) goes where stderr goes: the log file
    for module in preload:
        importlib.import_module(module)
    module_name, _, function_name = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        context = LocalContext(logical_id, timeout_seconds=timeout)
        try:
            reply: dict[str, Any] = {"result": handler(json.loads(line), context)}
        except Exception as error:  # reported as Lambda reports a handler error
            traceback.print_exc()
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:])
