"""`make sam-local`: the stack of `clerk-sync dev`, with the functions run by SAM's emulator instead.

What `clerk-sync dev` provides is the same (engines, the template's tables, queue and secret, SES's
sender, the state file that `send` and `dump` read); what differs is who runs the functions:
- WebhookFunction: `sam local start-api` (its HttpApi route), one warm container, started at the first
  request (under emulation at start-up: SAM retries a container that does not answer yet for only
  ≈0.3 s, less than the emulated emulator takes to start);
- SideEffectsFunction: `sam local start-lambda`, invoked by the local SQS event source (queue_worker)
  with Lambda-shaped batches, as Lambda's event source mapping would;
- ChangesFunction (with the change feed on, as in `clerk-sync dev`): `sam local start-lambda` too,
  invoked by the local DynamoDB stream event sources (stream_worker), which read the tables' streams
  here; its PutEvents reach moto's bus through the relay, like every other call of the containers.
All in containers of the Lambda-like image (image.py) on this stack's own bridge network (bridge.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clerk_sync.settings import DYNAMODB_ENDPOINT_ENV, ENDPOINT_ENV, SENDER_EMAIL_ENV

from clerk_sync_local.emulator.engines import free_port, sqs_client, streams_client
from clerk_sync_local.sam_local.bridge import bridge_network, relayed
from clerk_sync_local.sam_local.docker_engine import Engine, docker_engine
from clerk_sync_local.sam_local.emulation import TIMEOUT_FACTOR, ensure_emulation, host_architecture
from clerk_sync_local.sam_local.image import ARCHITECTURES, Image, ensure_image
from clerk_sync_local.sam_local.sam import (
    Sam,
    StartLambdaFunction,
    api_path,
    native_code,
    write_env_file,
    write_local_template,
)
from clerk_sync_local.stack import dev
from clerk_sync_local.stack.functions import FunctionSpec, LocalResources, function_specs
from clerk_sync_local.stack.queue_worker import POLL_WAIT_SECONDS, QueueWorker, event_source_mappings
from clerk_sync_local.stack.state import DEFAULT_STATE_DIR, ConnectionInfo, DevError, local_region, shown
from clerk_sync_local.stack.state import signing_secret as find_signing_secret
from clerk_sync_local.stack.stream_worker import StreamWorker, stream_event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

log = logging.getLogger(__name__)

DEFAULT_PORT = 3001  # 3000 is `make dev`'s
ARCHITECTURE_ENV = "SAM_LOCAL_ARCH"
ENV_FILE = "sam-local-env.json"


@dataclass(frozen=True)
class SamLocalOptions:
    """What `make sam-local` was asked for."""

    port: int = DEFAULT_PORT
    state_dir: Path = DEFAULT_STATE_DIR
    template_path: Path = TEMPLATE_PATH
    architecture: str | None = None  # None: $SAM_LOCAL_ARCH, else this machine's (emulation.py)


def run(options: SamLocalOptions) -> int:
    """Run until SIGINT, SIGTERM or SIGHUP, then stop everything it started (containers, network,
    relays, engines, and the dockerd it may have started)."""
    started = time.monotonic()
    directory = options.state_dir.resolve()
    previous = ConnectionInfo.load(directory)
    if previous is not None and previous.pid != os.getpid() and previous.running():
        raise DevError(
            f"a local stack is already running (pid {previous.pid}, {previous.url}) with its state in "
            f"{shown(directory)}: stop it first, or give this one another STATE_DIR"
        )
    repository = options.template_path.parent.resolve()
    work_dir = repository / ".local" / "sam-local"
    logs = directory / "logs"
    template = load_template(options.template_path)
    specs = {
        k: s
        for k, s in function_specs(template, repository).items()
        if dev.runs_locally(s) and dev.created(template, s)
    }
    http = [spec for spec in specs.values() if spec.has_function_url]
    if len(http) != 1:
        raise DevError(f"the template needs exactly one function with FunctionUrlConfig, not {len(http)}")
    path = api_path(http[0])
    deployed = str(
        (((template.get("Globals") or {}).get("Function") or {}).get("Architectures") or ["x86_64"])[0]
    )
    architecture = options.architecture or os.environ.get(ARCHITECTURE_ENV) or host_architecture()
    if architecture not in ARCHITECTURES:
        raise DevError(f"{ARCHITECTURE_ENV}={architecture}: choose {' or '.join(ARCHITECTURES)}")
    sam = Sam.find(repository, os.environ)
    signing = find_signing_secret(os.environ, directory)
    secret_origin = signing.origin
    with dev.interrupt_on_signals(), contextlib.ExitStack() as stack:
        dev.silence_engine_logs()
        engine = stack.enter_context(docker_engine(logs))
        emulated = ensure_emulation(architecture, logs)
        image = ensure_image(ARCHITECTURES[architecture], work_dir)
        built = sam.build(options.template_path, work_dir / "build", logs / "sam-build.log")
        if architecture != deployed and (compiled := native_code(built, specs.values())):
            raise DevError(
                f"the {deployed} bundles hold compiled code ({compiled[0]}): they cannot be served as "
                f"{architecture}; run with {ARCHITECTURE_ENV}={deployed}"
            )
        local_template = write_local_template(built, specs, architecture, TIMEOUT_FACTOR if emulated else 1)
        served = _served(architecture, deployed, emulated)
        endpoints = stack.enter_context(dev.start_engines(dev.DevOptions(state_dir=directory), directory))
        region = local_region(os.environ)
        dev.point_aws_at(endpoints, region)
        provisioned = dev.provision_stack(endpoints, template, region)
        secret_arns = dev.store_signing_secret(template, specs.values(), signing.value)
        for logical_id in secret_arns:
            secret_origin += f"; in Secrets Manager as {dev.secret_name(logical_id)}"
        os.environ.setdefault(SENDER_EMAIL_ENV, dev.LOCAL_SENDER)
        refs = {**dev.template_refs(provisioned), **secret_arns}
        local = LocalResources(template, os.environ, refs, provisioned.attributes)
        dev.verify_sender()
        network = stack.enter_context(bridge_network(f"clerk-sync-sam-{os.getpid()}"))
        inside = stack.enter_context(
            relayed(
                network.gateway,
                {ENDPOINT_ENV: endpoints.aws, DYNAMODB_ENDPOINT_ENV: endpoints.dynamodb},
            )
        )
        env_file = write_env_file(
            directory / ENV_FILE, {s.logical_id: {**local.environment(s), **inside} for s in specs.values()}
        )
        common = [
            "--template", str(local_template), "--env-vars", str(env_file),
            "--invoke-image", image.name, "--skip-pull-image", "--docker-network", network.name,
            "--warm-containers", "EAGER" if emulated else "LAZY", "--region", region,
            *_parameter_overrides(os.environ.get(SENDER_EMAIL_ENV, "")),
        ]  # fmt: skip
        stack.enter_context(sam.serve("start-api", common, options.port, logs / "sam-start-api.log"))
        lambda_port = free_port()
        stack.enter_context(sam.serve("start-lambda", common, lambda_port, logs / "sam-start-lambda.log"))
        workers = _workers(specs.values(), local, lambda_port, endpoints.aws, region)
        streams = _stream_workers(specs.values(), local, lambda_port, endpoints, region)
        url = f"http://127.0.0.1:{options.port}{path}"
        info = dev.publish(stack, directory, url, signing, region, endpoints, provisioned)
        stop = threading.Event()
        threads = [
            threading.Thread(target=w.run, args=(stop, dev.say), name=w.mapping.function_id, daemon=True)
            for w in workers
        ]
        threads += [
            threading.Thread(target=w.run, args=(stop, dev.say), name=w.mapping.event_id, daemon=True)
            for w in streams
        ]
        stack.callback(_stop_workers, stop, threads)
        for thread in threads:
            thread.start()
        feed = dev.change_feed_line(provisioned, streams)
        _banner(info, secret_origin, engine, image, served, endpoints, network.name, workers, feed, directory)
        dev.say(f"  Started in      {time.monotonic() - started:.0f} s")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            dev.say("stopping…")
    dev.say("stopped")
    return 0


def _served(architecture: str, deployed: str, emulated: bool) -> str:
    """How the architecture served relates to the deployed one, for the banner."""
    if architecture != deployed:
        return (
            f"{architecture} (the template deploys {deployed}; pure-Python bundles, run as built; "
            f"{ARCHITECTURE_ENV}={deployed} runs them emulated)"
        )
    if emulated:
        return f"{architecture} under qemu; the functions' timeouts × {TIMEOUT_FACTOR} for emulation"
    return architecture


def _parameter_overrides(sender: str) -> list[str]:
    return ["--parameter-overrides", f"SenderEmail={sender}"] if sender else []


def _workers(
    specs: Iterable[FunctionSpec], local: LocalResources, lambda_port: int, aws_endpoint: str, region: str
) -> list[QueueWorker]:
    """A worker per SQS event, invoking its function through `sam local start-lambda`."""
    workers = []
    for spec in specs:
        function = StartLambdaFunction(lambda_port, spec)
        for mapping in event_source_mappings(spec, local):
            sqs = sqs_client(aws_endpoint, region)
            workers.append(QueueWorker(sqs, local.refs[mapping.queue_id], mapping, function, region))
    return workers


def _stream_workers(
    specs: Iterable[FunctionSpec],
    local: LocalResources,
    lambda_port: int,
    endpoints: dev.Engines,
    region: str,
) -> list[StreamWorker]:
    """A worker per DynamoDB stream event, invoking its function through `sam local start-lambda`."""
    workers = []
    for spec in specs:
        function = StartLambdaFunction(lambda_port, spec)
        for mapping in stream_event_source_mappings(spec, local):
            queue = local.refs[mapping.on_failure_queue_id] if mapping.on_failure_queue_id else None
            reader = streams_client(endpoints.dynamodb, region)
            sqs = sqs_client(endpoints.aws, region)
            workers.append(StreamWorker(reader, mapping, function, region, sqs, queue))
    return workers


def _stop_workers(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=POLL_WAIT_SECONDS + 200)


def _banner(
    info: ConnectionInfo,
    secret_origin: str,
    engine: Engine,
    image: Image,
    served: str,
    endpoints: dev.Engines,
    network: str,
    workers: list[QueueWorker],
    change_feed: str,
    directory: Path,
) -> None:
    flag = "" if directory == DEFAULT_STATE_DIR.resolve() else f" --state-dir {shown(directory)}"
    built = f"built in {image.build_seconds:.0f} s" if image.build_seconds else "cached"
    lines = [
        "",
        "clerk-sync sam-local is running: the `sam build` artifacts in SAM's emulator",
        "",
        f"  Webhook URL     {info.url}  (sam local start-api)",
        f"  Signing secret  {info.secret}  ({secret_origin})",
        f"  Engine          {engine.description}; network {network}",
        f"  Architecture    {served}",
        f"  Image           {image.name} ({image.size_bytes / 1e6:.0f} MB, {built})",
        f"  AWS endpoint    {endpoints.description}, relayed to the containers",
        f"  Tables          {', '.join(info.tables.values())}",
        f"  E-mail          {dev.email_line(info.sender_email, endpoints)}",
    ]
    lines += [
        f"  Worker          {w.mapping.function_id} on {w.queue_arn.rsplit(':', 1)[-1]} through "
        "sam local start-lambda"
        for w in workers
    ]
    lines.append(f"  Change feed     {change_feed}")
    lines += [
        f"  SAM logs        {shown(directory / 'logs')}/sam-start-api.log, sam-start-lambda.log",
        "",
        "Next, in another terminal:",
        f"  clerk-sync send user.created{flag}",
        f"  clerk-sync dump{flag}",
        *([f"  clerk-sync dump changes{flag}"] if info.changes_bus else []),
        "",
        "Ctrl-C stops everything. One line per worker batch follows:",
    ]
    dev.say("\n".join(lines))
