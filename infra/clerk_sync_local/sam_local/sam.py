"""SAM CLI's side of the stack: `sam build`, the template `sam local` serves, its env file, the two
`sam local` processes, and the worker's way of invoking the function through `sam local start-lambda`.

The template served is the one `sam build` writes, less the functions the local stack does not run
(as `clerk-sync dev`: the scheduled ReconcileFunction, off by default) and their layers, with these
changes only: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB declared (empty) in its Globals, because
SAM passes a function only the variables its template declares, so the env file can point the functions
at the local engines; and the architecture served (x86_64 in place of arm64 on an x86_64 machine,
emulation.py), with the functions' timeouts stretched when that architecture runs emulated.
template.yaml itself is never changed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from clerk_sync.settings import DYNAMODB_ENDPOINT_ENV, ENDPOINT_ENV

from clerk_sync_local.stack.functions import FUNCTION_TYPE, SAM_DEFAULT_TIMEOUT, FunctionSpec, Invocation
from clerk_sync_local.stack.state import DevError, write_private
from clerk_sync_local.stack.template import load_template, references

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = (ENDPOINT_ENV, DYNAMODB_ENDPOINT_ENV)
LOCAL_TEMPLATE = "template.sam-local.yaml"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
READY_SECONDS = 120
STOP_SECONDS = 40
# Under emulation (arm64 on an x86_64 host) a cold start takes several times Lambda's: the worker waits
# for the invocation's answer up to this long, past the function's own Timeout, which the emulator enforces.
INVOKE_GRACE_SECONDS = 120


@dataclass(frozen=True)
class Sam:
    """The SAM CLI to run, and the environment to run it in."""

    executable: Path
    environment: Mapping[str, str]

    @classmethod
    def find(cls, repository: Path, environ: Mapping[str, str]) -> Sam:
        """SAM from `make tools` (.local/tools), with Python 3.13 on PATH for `sam build`."""
        executable = repository / ".local" / "tools" / "bin" / "sam"
        if not executable.is_file():
            raise DevError(f"SAM CLI is not installed ({executable} is missing): run `make tools`")
        python_bin = Path(sys.base_prefix) / "bin"
        if not (python_bin / "python3.13").exists():
            raise DevError(f"`sam build` needs python3.13, the template's runtime; {python_bin} has none")
        environment = {
            name: value
            for name, value in environ.items()
            if not name.startswith(ENDPOINT_ENV) and name not in ("VIRTUAL_ENV", "PYTHONPATH")
        }
        environment["PATH"] = f"{python_bin}{os.pathsep}{environ.get('PATH', '')}"
        environment["SAM_CLI_TELEMETRY"] = "0"
        return cls(executable, environment)

    def build(self, template: Path, build_dir: Path, log_path: Path) -> Path:
        """`sam build` (cached: unchanged functions are not rebuilt); the built template's path."""
        started = time.monotonic()
        command = [
            str(self.executable), "build", "--template", str(template), "--build-dir", str(build_dir),
            "--cached", "--cache-dir", str(build_dir.with_name(build_dir.name + "-cache")),
        ]  # fmt: skip
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as output:
            done = subprocess.run(
                command, stdout=output, stderr=subprocess.STDOUT, env=dict(self.environment), check=False
            )
        if done.returncode:
            raise DevError(f"`sam build` failed: see {log_path}")
        log.info("sam build: %.0f s (log: %s)", time.monotonic() - started, log_path)
        return build_dir / "template.yaml"

    @contextlib.contextmanager
    def serve(self, command: str, arguments: Sequence[str], port: int, log_path: Path) -> Iterator[None]:
        """`sam local COMMAND …` on 127.0.0.1:`port`, until the block ends; then stopped like Ctrl-C
        (SAM removes its containers), killed if it lingers."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as output:
            process = subprocess.Popen(
                [
                    str(self.executable),
                    "local",
                    command,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    *arguments,
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(self.environment),
                start_new_session=True,  # not in the terminal's group: stopped by us, in order
            )
        try:
            _wait_until_listening(process, port, f"sam local {command}", log_path)
            yield
        finally:
            _stop(process)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, name: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            raise DevError(f"`{name}` exited with code {process.returncode}: see {log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise DevError(
                f"`{name}` did not listen on 127.0.0.1:{port} within {READY_SECONDS} s: see {log_path}"
            )
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def write_local_template(
    built: Path, served: Collection[str], architecture: str, timeout_factor: int = 1
) -> Path:
    """The built template with the endpoint variables declared, only the functions served (and the
    layers they use), the architecture served and, for emulation, longer timeouts."""
    template = load_template(built)
    globals_ = template.setdefault("Globals", {}).setdefault("Function", {})
    variables = globals_.setdefault("Environment", {}).setdefault("Variables", {})
    for name in ENDPOINT_VARIABLES:
        variables.setdefault(name, "")
    globals_["Architectures"] = [architecture]
    resources = template["Resources"]
    for logical_id in [k for k, r in resources.items() if r.get("Type") == FUNCTION_TYPE and k not in served]:
        del resources[logical_id]  # not run locally (the scheduled ReconcileFunction, off by default)
    functions = {
        k: r.setdefault("Properties", {}) for k, r in resources.items() if r.get("Type") == FUNCTION_TYPE
    }
    used = set(references([p.get("Layers") for p in functions.values()]))
    for logical_id in [k for k, r in resources.items() if r.get("Type") == LAYER_TYPE and k not in used]:
        del resources[logical_id]
    for properties in functions.values():
        if "Architectures" in properties:
            properties["Architectures"] = [architecture]
        if timeout_factor != 1:
            timeout = properties.get("Timeout", globals_.get("Timeout", SAM_DEFAULT_TIMEOUT))
            properties["Timeout"] = int(timeout) * timeout_factor
    path = built.with_name(LOCAL_TEMPLATE)
    path.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")
    return path


def native_code(built: Path, specs: Iterable[FunctionSpec]) -> list[Path]:
    """Compiled extensions in the functions' bundles (which tie a bundle to its architecture)."""
    return [path for spec in specs for path in (built.parent / spec.logical_id).rglob("*.so*")]


def write_env_file(path: Path, environments: Mapping[str, Mapping[str, str]]) -> Path:
    """`--env-vars`: each function's variables (owner-readable only: it names the secret's ARN)."""
    write_private(path, json.dumps(environments, indent=2) + "\n")
    return path


def api_path(spec: FunctionSpec) -> str:
    """The path of the function's HttpApi event (POST /webhooks/clerk)."""
    for event in spec.events.values():
        if event.get("Type") in ("HttpApi", "Api"):
            return str((event.get("Properties") or {}).get("Path") or "/")
    raise DevError(f"{spec.logical_id} has no HttpApi event: `sam local start-api` would serve nothing")


class StartLambdaFunction:
    """A function invoked through `sam local start-lambda`'s Invoke API (what the worker calls)."""

    def __init__(self, port: int, spec: FunctionSpec) -> None:
        self._url = f"http://127.0.0.1:{port}/2015-03-31/functions/{spec.logical_id}/invocations"
        self._spec = spec
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def logical_id(self) -> str:
        """The function's logical id in template.yaml."""
        return self._spec.logical_id

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """One synchronous invocation; a function error (X-Amz-Function-Error) becomes `error`."""
        request = urllib.request.Request(self._url, data=json.dumps(event).encode(), method="POST")
        started = time.perf_counter()
        try:
            with self._opener.open(request, timeout=self._spec.timeout + INVOKE_GRACE_SECONDS) as answer:
                body, function_error = answer.read(), answer.headers.get("X-Amz-Function-Error")
        except (urllib.error.URLError, OSError) as error:
            return Invocation(
                None, f"sam local start-lambda: {error}", (time.perf_counter() - started) * 1000
            )
        ms = (time.perf_counter() - started) * 1000
        if not body:  # SAM's answer when the container did not answer: not a success (Lambda says "null")
            return Invocation(None, "sam local start-lambda: no response from the function's container", ms)
        try:
            result = json.loads(body)
        except ValueError:
            return Invocation(None, f"not JSON from sam local start-lambda: {body[:200]!r}", ms)
        if function_error:
            details = result if isinstance(result, dict) else {}
            message = f"{details.get('errorType', function_error)}: {details.get('errorMessage', '')}"
            return Invocation(result, message, ms)
        return Invocation(result, None, ms)
