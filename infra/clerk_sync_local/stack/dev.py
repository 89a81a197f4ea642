"""`clerk-sync dev`: the whole system on one machine, running the handlers named in template.yaml.

In one process, like one warm Lambda container per function:
- local AWS engines (moto; DynamoDB Local for the tables with `--backend dynamodb-local`), or an
  endpoint given with `--aws-endpoint`, with every table and queue of the template provisioned;
- an HTTP server that turns each request into the event a Lambda Function URL sends (payload v2) and
  answers with what the WebhookFunction handler returns (function_url.py);
- for every SQS event of a function, a worker that behaves like Lambda's event source mapping
  (long-poll, batches, `batchItemFailures`, so the queue's redrive to the dead-letter queue applies;
  queue_worker.py);
- with the change feed on (the template's ChangeFeed parameter; CHANGE_FEED=false turns it off), for
  every DynamoDB event of a function, a worker reading that table's stream like Lambda's stream event
  source mapping (stream_worker.py): ChangesFunction publishes to the local bus, where a catch-all rule
  keeps every event for `clerk-sync dump changes`.

What the functions print (Powertools JSON logs, EMF metrics) goes to `<state>/logs/<Function>.log`, as it
would to CloudWatch (functions.py); the terminal gets one line per delivery and per batch. The stack
publishes how to reach it in `<state>/dev.json` (state.py), which `clerk-sync send` and `clerk-sync dump`
read. This module wires them together: options, start-up, and a clean shutdown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from clerk_sync.settings import (
    CHANGE_DETAIL_ENV,
    DYNAMODB_ENDPOINT_ENV,
    ENDPOINT_ENV,
    SECRET_ARN_ENV,
    SENDER_EMAIL_ENV,
    SMS_ENABLED_ENV,
)

from clerk_sync_local.stack.function_url import FunctionUrlServer, bind_server
from clerk_sync_local.stack.functions import (
    FunctionLogs,
    FunctionSpec,
    LocalFunction,
    LocalResources,
    function_specs,
)
from clerk_sync_local.stack.queue_worker import POLL_WAIT_SECONDS, QueueWorker, event_source_mappings
from clerk_sync_local.stack.state import (
    DEFAULT_STATE_DIR,
    ConnectionInfo,
    DevError,
    SigningSecret,
    local_aws,
    local_region,
    shown,
    signing_secret,
    write_private,
)
from clerk_sync_local.stack.stream_worker import StreamWorker, stream_event_source_mappings
from clerk_sync_local.stack.template import (
    TEMPLATE_PATH,
    StackParameters,
    Template,
    TemplateError,
    load_template,
    parameter_variable,
    resources,
)

if TYPE_CHECKING:
    from clerk_sync_local.stack.provision import Provisioned

SAM_ENV_FILE = "sam-env.json"
LOCAL_SENDER = "welcome@clerk-sync.local"  # SENDER_EMAIL on the embedded moto when it is not set
BACKENDS = ("moto", "dynamodb-local")
SECRET_TYPE = "AWS::SecretsManager::Secret"
FEED_VARIABLE = parameter_variable("ChangeFeed")  # CHANGE_FEED


@dataclass(frozen=True)
class DevOptions:
    """What `clerk-sync dev` was asked for."""

    host: str = "127.0.0.1"
    port: int = 3000
    aws_endpoint: str | None = None
    backend: str = "moto"
    state_dir: Path = DEFAULT_STATE_DIR
    template_path: Path = TEMPLATE_PATH


@dataclass(frozen=True)
class Engines:
    """Where the functions reach AWS: one endpoint for everything, DynamoDB possibly elsewhere."""

    aws: str
    dynamodb: str
    description: str
    embedded: bool  # engines of this process (so its SES identities may be set up here)


def publish(
    stack: contextlib.ExitStack,
    directory: Path,
    url: str,
    signing: SigningSecret,
    region: str,
    endpoints: Engines,
    provisioned: Provisioned,
) -> ConnectionInfo:
    """Keep a generated signing secret and write dev.json (removed when `stack` closes): from then on
    `send`, `dump` and `emails` find this stack."""
    info = ConnectionInfo(
        url=url,
        secret=signing.value,
        region=region,
        aws_endpoint=endpoints.aws,
        dynamodb_endpoint=endpoints.dynamodb,
        tables=table_variables(provisioned),
        queue_url=provisioned.queue_url,
        dead_letter_queue_url=provisioned.dead_letter_queue_url,
        pid=os.getpid(),
        sender_email=os.environ.get(SENDER_EMAIL_ENV, ""),
    )
    if provisioned.changes is not None:
        info = dataclasses.replace(
            info,
            changes_bus=provisioned.changes.bus_name,
            changes_log_group=provisioned.changes.log_group,
            changes_failed_queue_url=provisioned.changes.failed_queue_url,
            change_detail=os.environ.get(CHANGE_DETAIL_ENV, ""),  # ChangesFunction's, set by now
        )
    signing.keep()
    published = info.save(directory)
    stack.callback(published.unlink, missing_ok=True)
    return info


def say(line: str) -> None:
    """Print a line to the terminal at once (stdout may be a pipe)."""
    print(line, flush=True)


def run(options: DevOptions) -> int:
    """Run the stack until SIGINT, SIGTERM or SIGHUP, then stop everything it started.

    Raises DevError when it cannot start, and KeyboardInterrupt when interrupted while starting.
    """
    directory = options.state_dir.resolve()
    previous = ConnectionInfo.load(directory)
    if previous is not None and previous.pid != os.getpid() and previous.running():
        raise DevError(
            f"`clerk-sync dev` is already running (pid {previous.pid}, {previous.url}) with its state in "
            f"{shown(directory)}: stop it first, or give this one another --state-dir"
        )
    template = load_template(options.template_path)
    every = function_specs(template, options.template_path.parent)
    specs = {k: spec for k, spec in every.items() if runs_locally(spec) and created(template, spec)}
    not_run = sorted(k for k, spec in every.items() if not runs_locally(spec))
    http_specs = [spec for spec in specs.values() if spec.has_function_url]
    if len(http_specs) != 1:
        raise DevError(
            f"the template needs exactly one function with FunctionUrlConfig, not {len(http_specs)}"
        )
    signing = signing_secret(os.environ, directory)
    secret, secret_origin = signing.value, signing.origin
    with interrupt_on_signals(), contextlib.ExitStack() as stack:
        server = bind_server(options.host, options.port, say)
        stack.callback(server.server_close)
        silence_engine_logs()
        endpoints = stack.enter_context(start_engines(options, directory))
        region = local_region(os.environ)
        point_aws_at(endpoints, region)
        provisioned = provision_stack(endpoints, template, region)
        secret_arns = store_signing_secret(template, specs.values(), secret)
        for logical_id in secret_arns:
            secret_origin += f"; in Secrets Manager as {secret_name(logical_id)}"
        if endpoints.embedded:  # moto's SES and SNS keep what is sent: e-mails and SMS on out of the box
            os.environ.setdefault(SENDER_EMAIL_ENV, LOCAL_SENDER)
            os.environ.setdefault(SMS_ENABLED_ENV, "true")
        refs = {**template_refs(provisioned), **secret_arns}
        local = LocalResources(template, os.environ, refs, provisioned.attributes)
        _export_environment(local, specs.values())
        if endpoints.embedded:
            verify_sender()
        logs = FunctionLogs(directory / "logs")
        stack.enter_context(logs.installed())
        server.function = _load_http_function(http_specs[0], logs)
        stop = threading.Event()
        workers, streams, skipped = _workers(specs.values(), local, logs, endpoints, region)
        skipped += [
            f"{name} not run locally (scheduled): clerk-sync backfill runs its code" for name in not_run
        ]
        info = publish(stack, directory, server.url, signing, region, endpoints, provisioned)
        _write_sam_env(directory / SAM_ENV_FILE, local, specs.values(), endpoints)
        threads = [
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="function-url", daemon=True
            )
        ]
        threads += [
            threading.Thread(target=w.run, args=(stop, say), name=w.mapping.function_id, daemon=True)
            for w in workers
        ]
        threads += [
            threading.Thread(target=w.run, args=(stop, say), name=w.mapping.event_id, daemon=True)
            for w in streams
        ]
        stack.callback(_stop_threads, server, stop, threads)
        for thread in threads:
            thread.start()
        _banner(options, info, secret_origin, endpoints, provisioned, workers, streams, skipped, directory)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            say("stopping…")
    say("stopped")
    return 0


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, so every exit path cleans up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    saved = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def silence_engine_logs() -> None:
    """No per-request lines from moto's werkzeug server; provisioning's own lines stay visible."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    ours = logging.getLogger("clerk_sync_local")
    if not ours.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)


@contextlib.contextmanager
def start_engines(options: DevOptions, directory: Path) -> Iterator[Engines]:
    """The given endpoint, or moto (plus DynamoDB Local for the tables) in this process."""
    if options.aws_endpoint:
        yield Engines(
            options.aws_endpoint, options.aws_endpoint, f"{options.aws_endpoint} (--aws-endpoint)", False
        )
        return
    # engines loads moto and boto3 (≈0.5 s): imported here, so that `send` and `dump` start fast
    from clerk_sync_local.emulator.engines import DynamoDBLocalEngine, EngineError, MotoEngine

    try:
        with contextlib.ExitStack() as engines:
            moto = engines.enter_context(MotoEngine())
            if options.backend == "dynamodb-local":
                data = directory / "dynamodb"
                dynamodb = engines.enter_context(DynamoDBLocalEngine(state_dir=data)).endpoint
                description = (
                    f"{moto.endpoint} (moto: SQS, SES, SNS); DynamoDB Local {dynamodb}, data in {shown(data)}"
                )
            else:
                dynamodb, description = moto.endpoint, f"{moto.endpoint} (moto: DynamoDB, SQS, SES, SNS)"
            yield Engines(moto.endpoint, dynamodb, description, True)
    except EngineError as error:
        raise DevError(str(error)) from None


def provision_stack(endpoints: Engines, template: Template, region: str) -> Provisioned:
    from botocore.exceptions import BotoCoreError, ClientError

    from clerk_sync_local.stack.provision import ProvisionError, ResourceNames, provision

    try:
        return provision(
            dynamodb_endpoint=endpoints.dynamodb,
            sqs_endpoint=endpoints.aws,
            names=ResourceNames.from_env(os.environ),
            region=region,
            template=template,
            environ=os.environ,
        )
    except (BotoCoreError, ClientError, ProvisionError) as error:
        raise DevError(
            f"cannot provision the template's tables and queues at {endpoints.aws}: {error}"
        ) from None


def template_refs(provisioned: Provisioned) -> dict[str, str]:
    """What `!Ref` returns for the provisioned tables (name), queues (URL) and the change bus (name), by
    logical id."""
    from clerk_sync_local.stack.provision import (
        BUS_ID,
        CHANGES_FAILED_QUEUE_ID,
        DEAD_LETTER_QUEUE_ID,
        QUEUE_ID,
    )

    queues = {QUEUE_ID: provisioned.queue_url, DEAD_LETTER_QUEUE_ID: provisioned.dead_letter_queue_url}
    if provisioned.changes is not None:
        queues[CHANGES_FAILED_QUEUE_ID] = provisioned.changes.failed_queue_url
        queues[BUS_ID] = provisioned.changes.bus_name
    return {**provisioned.tables, **queues}


def table_variables(provisioned: Provisioned) -> dict[str, str]:
    """Table names keyed by the configuration variable that names them (domain/tables.py declares them)."""
    from clerk_sync_local.stack.provision import TABLE_ENV_VARS

    return {TABLE_ENV_VARS[logical_id]: name for logical_id, name in provisioned.tables.items()}


def point_aws_at(endpoints: Engines, region: str) -> None:
    """This process is the functions' container: every AWS call goes to the local endpoints."""
    variables, stale = local_aws(os.environ, region, endpoints.aws, endpoints.dynamodb)
    for name in stale:
        del os.environ[name]
    os.environ.update(variables)


def store_signing_secret(template: Template, specs: Iterable[FunctionSpec], secret: str) -> dict[str, str]:
    """Put the signing secret in the Secrets Manager secret(s) the functions read it from
    (`CLERK_WEBHOOK_SIGNING_SECRET_ARN: !Ref X`); their ARNs by logical id."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    declared = resources(template, SECRET_TYPE)
    wanted = {
        value["Ref"]
        for spec in specs
        for name, value in spec.variables.items()
        if name == SECRET_ARN_ENV and isinstance(value, dict) and value.get("Ref") in declared
    }
    client = boto3.client("secretsmanager")
    arns = {}
    for logical_id in sorted(wanted):
        name = secret_name(logical_id)
        try:
            try:
                arns[logical_id] = client.create_secret(Name=name, SecretString=secret)["ARN"]
            except client.exceptions.ResourceExistsException:
                arns[logical_id] = client.put_secret_value(SecretId=name, SecretString=secret)["ARN"]
        except (BotoCoreError, ClientError) as error:
            raise DevError(f"cannot store the signing secret in Secrets Manager as {name}: {error}") from None
    return arns


def secret_name(logical_id: str) -> str:
    return f"clerk-sync-{logical_id}"


def _export_environment(local: LocalResources, specs: Iterable[FunctionSpec]) -> None:
    """Every function's variables, resolved, in this process's environment (before their imports)."""
    merged: dict[str, tuple[str, str]] = {}
    for spec in specs:
        for name, value in local.environment(spec).items():
            if name in merged and merged[name][1] != value:
                raise DevError(
                    f"{merged[name][0]} and {spec.logical_id} set {name} differently; "
                    "the local stack runs both in one process and needs one value"
                )
            merged[name] = (spec.logical_id, value)
    os.environ.update({name: value for name, (_, value) in merged.items()})


def _write_sam_env(
    path: Path, local: LocalResources, specs: Iterable[FunctionSpec], endpoints: Engines
) -> None:
    """An env file for `sam local start-api --env-vars`: each function's variables for this stack.

    SAM sets only variables the template declares: AWS_ENDPOINT_URL* take effect once it declares them.
    """
    aws = {ENDPOINT_ENV: endpoints.aws, DYNAMODB_ENDPOINT_ENV: endpoints.dynamodb}
    functions = {spec.logical_id: {**local.environment(spec), **aws} for spec in specs}
    write_private(path, json.dumps(functions, indent=2) + "\n")


def verify_sender() -> None:
    """moto's SES sends only from verified identities: verify SENDER_EMAIL when it is set."""
    sender = os.environ.get(SENDER_EMAIL_ENV)
    if sender:
        import boto3

        boto3.client("sesv2").create_email_identity(EmailIdentity=sender)


def _load_http_function(spec: FunctionSpec, logs: FunctionLogs) -> LocalFunction:
    try:
        return LocalFunction(spec, logs)
    except DevError:
        raise
    except Exception as error:
        raise DevError(
            f"{spec.logical_id} ({spec.handler}) failed to load: {type(error).__name__}: {error}"
        ) from None


def runs_locally(spec: FunctionSpec) -> bool:
    """dev serves the Function URL and runs SQS and DynamoDB stream event sources; scheduled functions
    (ReconcileFunction, conditional and off by default) are left out, with their environment unresolved."""
    sources = ("SQS", "DynamoDB")
    return spec.has_function_url or any(event.get("Type") in sources for event in spec.events.values())


def created(template: Template, spec: FunctionSpec) -> bool:
    """Whether the template creates the function with the parameters set here (its Condition, e.g.
    ChangesFunction's ChangeFeedEnabled: CHANGE_FEED=false)."""
    if spec.condition is None:
        return True
    try:
        return StackParameters(template, os.environ).condition(spec.condition)
    except TemplateError as error:
        raise DevError(f"{spec.logical_id}: {error}") from None


def _workers(
    specs: Iterable[FunctionSpec],
    local: LocalResources,
    logs: FunctionLogs,
    endpoints: Engines,
    region: str,
) -> tuple[list[QueueWorker], list[StreamWorker], list[str]]:
    """A worker per SQS event and per DynamoDB stream event; functions that cannot load yet are
    reported, not fatal."""
    from clerk_sync_local.emulator.engines import sqs_client, streams_client

    workers: list[QueueWorker] = []
    streams: list[StreamWorker] = []
    skipped: list[str] = []
    for spec in specs:
        mappings = event_source_mappings(spec, local)
        stream_mappings = stream_event_source_mappings(spec, local)
        if not mappings and not stream_mappings:
            continue
        try:
            function = LocalFunction(spec, logs)
        except Exception as error:
            kept = "messages stay on the queue" if mappings else "changes stay in the tables' streams"
            skipped.append(
                f"{spec.logical_id} not started: {spec.handler} cannot be loaded "
                f"({type(error).__name__}: {error}); its {kept}"
            )
            continue
        sqs = sqs_client(endpoints.aws, region)
        workers += [QueueWorker(sqs, local.refs[m.queue_id], m, function, region) for m in mappings]
        for mapping in stream_mappings:
            on_failure = local.refs[mapping.on_failure_queue_id] if mapping.on_failure_queue_id else None
            reader = streams_client(endpoints.dynamodb, region)
            streams.append(StreamWorker(reader, mapping, function, region, sqs, on_failure))
    return workers, streams, skipped


def _stop_threads(server: FunctionUrlServer, stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    server.shutdown()
    for thread in threads:
        thread.join(timeout=POLL_WAIT_SECONDS + 35)


def email_line(sender: str, endpoints: Engines) -> str:
    """Whether the worker sends e-mails, from whom, and how to turn that on or off."""
    if not sender:
        return (
            "off: SENDER_EMAIL is empty, the worker skips every e-mail (outcome skipped_no_sender); "
            "start with SENDER_EMAIL=you@example.com to send"
        )
    if not endpoints.embedded:
        return f"on, from {sender} (SENDER_EMAIL) through {endpoints.aws}"
    default = " (the local default; SENDER_EMAIL= turns e-mails off)" if sender == LOCAL_SENDER else ""
    return f"on, from {sender}{default}, kept by moto's SES: clerk-sync dump emails"


def sms_line(enabled: str, endpoints: Engines) -> str:
    """Whether the worker sends delegated SMS, and how to turn that on or off."""
    if enabled.strip().lower() != "true":
        return (
            f"off: {SMS_ENABLED_ENV} is not true, the worker skips every SMS (outcome skipped_sms_disabled); "
            f"start with {SMS_ENABLED_ENV}=true to send"
        )
    if not endpoints.embedded:
        return f"on ({SMS_ENABLED_ENV}), through {endpoints.aws}"
    return f"on, kept by moto's SNS ({SMS_ENABLED_ENV}=false turns them off): clerk-sync dump sms"


def _banner(
    options: DevOptions,
    info: ConnectionInfo,
    secret_origin: str,
    endpoints: Engines,
    provisioned: Provisioned,
    workers: list[QueueWorker],
    streams: list[StreamWorker],
    skipped: list[str],
    directory: Path,
) -> None:
    flag = "" if directory == DEFAULT_STATE_DIR.resolve() else f" --state-dir {shown(directory)}"
    backend = "--aws-endpoint" if options.aws_endpoint else options.backend
    lines = [
        "",
        f"clerk-sync dev is running ({backend}), with the handlers named in {shown(options.template_path)}",
        "",
        f"  Webhook URL     {info.url}",
        f"  Signing secret  {info.secret}  ({secret_origin})",
        f"  AWS endpoint    {endpoints.description}",
        f"  Tables          {', '.join(provisioned.tables.values())}",
        f"  E-mail          {email_line(info.sender_email, endpoints)}",
        f"  SMS             {sms_line(os.environ.get(SMS_ENABLED_ENV, ''), endpoints)}",
    ]
    for worker in workers:
        redrive = (
            f", dead-letter queue after {worker.max_receive_count} receives"
            if worker.max_receive_count
            else ""
        )
        lines.append(
            f"  Worker          {worker.mapping.function_id} on {worker.queue_arn.rsplit(':', 1)[-1]} "
            f"(batches of up to {worker.mapping.batch_size}{redrive})"
        )
    lines += [f"  Worker          {line}" for line in skipped]
    lines.append(f"  Change feed     {change_feed_line(provisioned, streams)}")
    lines += [
        f"  Function logs   {shown(directory / 'logs')}/",
        f"  SAM env file    {shown(directory / SAM_ENV_FILE)}  (for sam local start-api --env-vars)",
        "",
        "Next, in another terminal:",
        f"  clerk-sync send user.created{flag}",
        f"  clerk-sync dump{flag}",
    ]
    if provisioned.changes is not None:
        lines.append(f"  clerk-sync dump changes{flag}")
    lines += [
        f'  eval "$(clerk-sync env{flag})"      (then ClerkData.from_environment() reads this stack)',
        "",
        "Ctrl-C stops everything. One line per delivery follows:",
    ]
    say("\n".join(lines))


def change_feed_line(provisioned: Provisioned, streams: list[StreamWorker]) -> str:
    """Whether the change feed runs: the streams read, the retries, the bus and how to see its events."""
    changes = provisioned.changes
    if changes is None:
        return (
            f"off ({FEED_VARIABLE}={os.environ.get(FEED_VARIABLE, '')}): no streams, no bus, no "
            f"ChangesFunction; unset {FEED_VARIABLE} to turn it on"
        )
    if not streams:
        return f"on, bus {changes.bus_name}, but no stream is read (see the Worker lines)"
    functions = sorted({worker.mapping.function_id for worker in streams})
    mapping = streams[0].mapping
    retries = "retried without end" if mapping.max_retries < 0 else f"retried {mapping.max_retries} times"
    queue = changes.failed_queue_url.rsplit("/", 1)[-1]
    return (
        f"on: {', '.join(functions)} reading the streams of {len(streams)} tables (batches of up to "
        f"{mapping.batch_size}, {retries}, then {queue}); events on bus {changes.bus_name}, kept by a "
        "catch-all rule: clerk-sync dump changes"
    )
