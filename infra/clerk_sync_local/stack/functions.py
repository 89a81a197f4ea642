"""The template's functions, run in this process: what `clerk-sync dev` calls instead of Lambda.

- FunctionSpec: an AWS::Serverless::Function of template.yaml, with its Globals applied;
- LocalResources: the values of `!Ref` and `!GetAtt` for the local stack, to resolve the functions'
  environment and event sources;
- LocalFunction: a handler imported here and invoked with a LocalContext carrying the template's
  Timeout, its output captured by FunctionLogs into <state>/logs/<Function>.log, as CloudWatch would.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.state import DevError
from clerk_sync_local.stack.template import StackParameters, Template, TemplateError, resources

FUNCTION_TYPE = "AWS::Serverless::Function"
SAM_DEFAULT_TIMEOUT = 3
SAM_DEFAULT_MEMORY = 128


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function, with the template's Globals applied."""

    logical_id: str
    handler: str
    code_dir: Path
    timeout: float
    memory: int
    variables: Mapping[str, Any]  # Environment.Variables, Globals first, unresolved
    events: Mapping[str, Any]
    has_function_url: bool
    condition: str | None = None  # the resource's Condition: created only when it holds


def function_specs(template: Template, template_dir: Path) -> dict[str, FunctionSpec]:
    """Every function of the template, keyed by logical id."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    specs = {}
    for logical_id, properties in resources(template, FUNCTION_TYPE).items():
        merged = {**defaults, **properties}
        variables = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((properties.get("Environment") or {}).get("Variables") or {}),
        }
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=str(merged["Handler"]),
            code_dir=(template_dir / str(merged.get("CodeUri") or ".")).resolve(),
            timeout=float(merged.get("Timeout", SAM_DEFAULT_TIMEOUT)),
            memory=int(merged.get("MemorySize", SAM_DEFAULT_MEMORY)),
            variables=variables,
            events=merged.get("Events") or {},
            has_function_url="FunctionUrlConfig" in merged,
            condition=template["Resources"][logical_id].get("Condition"),
        )
    return specs


@dataclass(frozen=True)
class LocalResources:
    """Values of `!Ref` for this stack: parameters, and what `!Ref` returns for the resources created
    locally (a table's name, a queue's URL, a secret's ARN, a bus's name); and of `!GetAtt` for the
    attributes the event sources need (a table's StreamArn)."""

    template: Template
    environ: Mapping[str, str]
    refs: Mapping[str, str]  # logical id -> value of !Ref
    attributes: Mapping[str, str] = field(default_factory=dict)  # "LogicalId.Attribute" -> value

    def resolve(self, value: Any, variable: str | None = None) -> str:
        """A template value as a string. For a literal or a parameter, the environment variable
        `variable`, when set, wins (that is how SENDER_EMAIL or POWERTOOLS_LOG_LEVEL are changed
        locally); a parameter is then its own variable (ChangeRetryAttempts: CHANGE_RETRY_ATTEMPTS,
        template.parameter_variable), else its Default; resources are the local ones."""
        target = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
        if isinstance(target, str) and target in self.refs:
            return self.refs[target]
        if variable and variable in self.environ:
            return self.environ[variable]
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(target, str) and target in (self.template.get("Parameters") or {}):
            try:
                return StackParameters(self.template, self.environ).value(target)
            except TemplateError as error:
                raise DevError(f"{error}{f' (or {variable})' if variable else ''}") from None
        where = f" (for {variable})" if variable else ""
        raise DevError(
            f"cannot resolve {value}{where} locally: only !Ref to parameters, tables, queues, secrets "
            "and the change bus"
        )

    def attribute(self, value: Any, where: str) -> str:
        """The value of `!GetAtt Resource.Attribute` for a local resource (DevError otherwise)."""
        target = value.get("Fn::GetAtt") if isinstance(value, dict) and len(value) == 1 else None
        name = ".".join(str(part) for part in target) if isinstance(target, list) else None
        if name is None or name not in self.attributes:
            raise DevError(f"{where}: {value} is not an attribute of a local resource")
        return self.attributes[name]

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's environment variables, resolved."""
        return {name: self.resolve(value, name) for name, value in spec.variables.items()}


class _Routed(io.TextIOBase):
    """A sys.stdout/sys.stderr stand-in: a function thread writes to its log, any other to the terminal."""

    def __init__(self, terminal: TextIO, route: threading.local) -> None:
        self._terminal = terminal
        self._route = route

    def _target(self) -> TextIO:
        target: TextIO | None = getattr(self._route, "stream", None)
        return target or self._terminal

    def write(self, text: str) -> int:
        self._target().write(text)
        return len(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()


class FunctionLogs:
    """Per-function log files, like CloudWatch log groups: <state>/logs/<Function>.log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._route = threading.local()
        self._files: dict[str, TextIO] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route this process's stdout and stderr by thread while the stack runs."""
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Routed(saved[0], self._route), _Routed(saved[1], self._route)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved
            for stream in self._files.values():
                stream.close()
            self._files.clear()

    @contextlib.contextmanager
    def capture(self, function_id: str) -> Iterator[None]:
        """Send what this thread prints to the function's log file."""
        if function_id not in self._files:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{function_id}.log"
            self._files[function_id] = path.open("a", encoding="utf-8", buffering=1)
        self._route.stream = self._files[function_id]
        try:
            yield
        finally:
            self._route.stream = None


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: the handler's result, or an error as Lambda would report it."""

    result: Any
    error: str | None
    ms: float


class Invoker(Protocol):
    """Something invoked like a Lambda function: a LocalFunction, a ContainerPool, a test stand-in."""

    @property
    def logical_id(self) -> str:
        """The function's logical id in template.yaml (names its log)."""
        ...

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Handle one event; an error (as Lambda would report it) goes in `Invocation.error`."""
        ...


class LocalFunction:
    """A function's handler imported in this process, called with a LocalContext carrying the
    template's Timeout; its output goes to the function's log.

    Invocations run one at a time across all functions: in one process the functions share
    module-level state (Powertools' Logger and Metrics) that separate Lambda containers would not.
    """

    _one_at_a_time = threading.Lock()

    def __init__(self, spec: FunctionSpec, logs: FunctionLogs) -> None:
        self.spec = spec
        self._logs = logs
        module_name, _, attribute = spec.handler.rpartition(".")
        if str(spec.code_dir) not in sys.path:
            sys.path.insert(0, str(spec.code_dir))
        with logs.capture(spec.logical_id):
            module = importlib.import_module(module_name)  # its init code reads the environment now
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise DevError(f"{spec.logical_id}: {module_name} has no function {attribute!r}")
        self._handler: Callable[[dict[str, Any], LocalContext], Any] = handler

    @property
    def logical_id(self) -> str:
        """The function's logical id in template.yaml."""
        return self.spec.logical_id

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Call the handler; an exception or an overrun of the Timeout becomes `error`."""
        with self._one_at_a_time, self._logs.capture(self.spec.logical_id):
            context = LocalContext(self.spec.logical_id, self.spec.timeout, self.spec.memory)
            started = time.perf_counter()
            try:
                result, error = self._handler(event, context), None
            except Exception as exc:
                traceback.print_exc()
                result, error = None, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - started) * 1000
            if error is None and ms > self.spec.timeout * 1000:
                error = f"Task timed out after {ms / 1000:.2f} seconds"
                print(error, flush=True)
        return Invocation(result=result, error=error, ms=ms)
