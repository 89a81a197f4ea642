"""`sam build` without Docker (arm64, Python 3.13 on PATH), then the built artifact, on its own.

The build always starts clean (CI does too): ≈15–25 s, wheels fetched by pip from the package index.
The artifact is then imported by a fresh interpreter that sees only the artifact and the standard
library (`-S`, PYTHONPATH = the artifact) and answers a signed delivery against moto: secret from
Secrets Manager, item in DynamoDB, message on SQS. Every bundled dependency is pure Python, so the
arm64 artifact runs on this x86 machine too (the test checks that no compiled module sneaks in).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from benchmarks import package
from builders import SECRET
from clerk_sync.domain.complete import compress
from clerk_sync_local.emulator.engines import logs_client, sqs_client, streams_client
from clerk_sync_local.stack.functions import Invocation, LocalResources, function_specs
from clerk_sync_local.stack.provision import ResourceNames, provision
from clerk_sync_local.stack.stream_worker import StreamWorker, stream_event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from locks import exported_versions, locked_version, normalized

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
MB = package.MB

# Budgets (docs/deployment.md, "Package size"; today's size: docs/performance.md, written by make bench;
# file bytes, 10^6 per MB), bytecode included. botocore's service
# models (≈22 MB, already gzipped, hence the poor zip ratio) grow by about 1 MB a quarter: ≈25 % head-room.
UNZIPPED_BUDGET = 42 * MB
ZIPPED_BUDGET = 27 * MB
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024

BUNDLED = ("clerk_sync", "aws_lambda_powertools", "boto3", "botocore", "pynamodb")
NOT_BUNDLED = ("svix", "moto", "pytest", "clerk_sync_local", "yaml", "samtranslator", "checkov")
ELF_MACHINE_AARCH64 = 183


def python313_dir() -> Path:
    """A directory whose python3.13 is a real 3.13 (pyenv's, as in aws-notes, else the PATH's)."""
    found = package.python313_dir()
    if found is None:
        pytest.fail("sam build needs python3.13 on PATH (pyenv install 3.13): no Docker here")
    return found


@dataclass(frozen=True)
class Build:
    dir: Path
    python: Path

    def artifact(self, function: str) -> Path:
        return self.dir / function


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    out = tmp_path_factory.mktemp("sam")
    python_dir = python313_dir()
    built = package.build(out)  # the same build `make bench` measures
    assert isinstance(built, Path), built
    return Build(dir=built, python=python_dir / "python3.13")


@pytest.mark.parametrize("function", ["WebhookFunction", "SideEffectsFunction"])
def test_artifact_contents(build, function):
    artifact = build.artifact(function)
    top = {p.name for p in artifact.iterdir()}
    assert set(BUNDLED) <= top, sorted(top)
    assert not set(NOT_BUNDLED) & top, "dev-only packages in the bundle"
    built = json.dumps(build.dir.joinpath("template.yaml").read_text())
    assert function in built
    endpoints = json.loads((artifact / "botocore" / "data" / "endpoints.json").read_text())
    kept = {name for partition in endpoints["partitions"] for name in partition["services"]}
    # trim_botocore.py ran
    assert kept == {"dynamodb", "sqs", "email", "sns", "secretsmanager", "lambda", "events"}
    for library in artifact.rglob("*.so*"):
        header = library.read_bytes()[:20]
        machine = int.from_bytes(header[18:20], "little")
        assert machine == ELF_MACHINE_AARCH64, f"{library} is not an arm64 library"


EMULATORS_AND_TOOLING = {"moto", "svix", "pyyaml", "clerk-sync-local", "werkzeug", "flask"}


def distributions(folder: Path) -> set[str]:
    """The normalized names of the distributions installed in a folder (its *.dist-info)."""
    return {
        path.name.split("-")[0].lower().replace("_", "-")
        for path in folder.iterdir()
        if path.name.endswith(".dist-info")
    }


def test_the_lambda_package_declares_only_what_lambda_runs():
    """functions/pyproject.toml is the one list of what Lambda runs (its versions: requirements.lock,
    exported from uv.lock; no hand-written requirements file)."""
    project = tomllib.loads((ROOT / "functions" / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", requirement)[0].lower() for requirement in project["dependencies"]}
    assert names == {"aws-lambda-powertools", "boto3", "pynamodb"}
    assert project["optional-dependencies"] == {"reconcile": ["clerk-backend-api>=7,<8"]}
    assert not (ROOT / "functions" / "requirements.txt").exists()


@pytest.mark.parametrize("function", ["WebhookFunction", "SideEffectsFunction", "ReconcileFunction"])
def test_bundles_are_installed_from_the_package_metadata(build, function):
    artifact = build.artifact(function)
    installed = distributions(artifact)
    assert "clerk-sync" in installed  # the package itself, from its own metadata
    assert not installed & EMULATORS_AND_TOOLING, installed
    assert not installed & {"clerk-backend-api", "httpx", "pydantic"}  # the reconcile layer's
    assert (artifact / "clerk_sync" / "backfill").is_dir() == (function == "ReconcileFunction")
    assert (artifact / "clerk_sync" / "adapters" / "clerk").is_dir() == (function == "ReconcileFunction")


def installed_versions(folder: Path) -> dict[str, str]:
    """name -> version of every distribution installed in a folder (its *.dist-info)."""
    found = {}
    for path in folder.glob("*.dist-info"):
        name, version = path.name.removesuffix(".dist-info").rsplit("-", 1)
        found[normalized(name)] = version
    return found


@pytest.mark.parametrize("function", ["WebhookFunction", "SideEffectsFunction", "ReconcileFunction"])
def test_each_bundle_ships_exactly_the_locked_versions(build, function):
    # what the tests ran (.venv is uv.lock, test_lock.py) is what sam build ships
    shipped = installed_versions(build.artifact(function))
    assert shipped.pop("clerk-sync") == locked_version("clerk-sync")
    assert shipped == exported_versions(ROOT / "functions" / "requirements.lock")


def test_the_reconcile_layer_ships_exactly_the_locked_versions(build):
    shipped = installed_versions(build.dir / "ClerkBackendApiLayer" / "python")
    assert shipped == exported_versions(ROOT / "functions" / "reconcile.lock")


def test_the_reconcile_layer_holds_the_sdk_only(build):
    layer = build.dir / "ClerkBackendApiLayer" / "python"
    installed = distributions(layer)
    assert "clerk-backend-api" in installed
    in_the_bundle = {"clerk-sync", "boto3", "botocore", "pynamodb"}
    assert not installed & (EMULATORS_AND_TOOLING | in_the_bundle), installed


def test_size_budget(build, tmp_path):
    size = package.size("WebhookFunction", build.artifact("WebhookFunction"), tmp_path / "webhook.zip")
    unzipped, zipped = size.unzipped_mb * MB, size.zipped_mb * MB
    print(f"\nWebhookFunction: {size.unzipped_mb:.1f} MB unzipped, {size.zipped_mb:.1f} MB zipped")
    assert unzipped <= UNZIPPED_BUDGET, f"{unzipped / MB:.1f} MB > budget {UNZIPPED_BUDGET / MB:.0f} MB"
    assert zipped <= ZIPPED_BUDGET, f"{zipped / MB:.1f} MB zipped > budget {ZIPPED_BUDGET / MB:.0f} MB"
    assert unzipped < LAMBDA_UNZIPPED_LIMIT


# --- the artifact, alone, in a fresh interpreter ---------------------------------------------------

CHILD = r"""
import json, os, sys, time
import importlib._bootstrap_external as bootstrap

compiled = []  # modules compiled from source: Lambda cannot cache them, every cold start pays again
to_code = bootstrap.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return to_code(self, data, path, *args, **kwargs)
bootstrap.SourceLoader.source_to_code = counting


def peak_rss_mb():  # VmHWM: this process image only (getrusage's maxrss counts the forking parent too)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


started = time.perf_counter()
import clerk_sync.handlers.webhook as webhook
import_seconds = time.perf_counter() - started
import_rss_mb = peak_rss_mb()
import clerk_sync.handlers.side_effects as side_effects
import botocore, boto3, pynamodb, aws_lambda_powertools
from clerk_sync.domain.signature import sign

artifact = os.environ["ARTIFACT"]
for module in (webhook, side_effects, botocore, boto3, pynamodb, aws_lambda_powertools):
    assert module.__file__.startswith(artifact), module.__file__
assert not any("site-packages" in p for p in sys.path), sys.path

class Context:
    function_name = "WebhookFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebhookFunction"
    aws_request_id = "req-1"
    log_group_name = log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 8000

def request(body, headers, path="/webhooks/clerk"):
    return {"version": "2.0", "rawPath": path, "headers": headers, "body": body.decode(),
            "isBase64Encoded": False, "requestContext": {"http": {"method": "POST", "path": path}}}

key = __import__("base64").b64decode(os.environ["KEY"])
answers = []
payload = {"type": "user.created", "object": "event", "timestamp": 1732000000100,
           "data": {"object": "user", "id": os.environ["USER_ID"], "first_name": "Ann",
                    "email_addresses": [], "created_at": 1732000000000, "updated_at": 1732000000100}}
body = json.dumps(payload).encode()
now = int(time.time())
signature = sign(key, "msg_built", now, body)
headers = {"svix-id": "msg_built", "svix-timestamp": str(now), "svix-signature": signature}
handled = time.perf_counter()
answers.append(webhook.handler(request(body, headers), Context()))
first_request_seconds = time.perf_counter() - handled
answers.append(webhook.handler(request(body, {**headers, "svix-signature": "v1,AAAA"}), Context()))
answers.append(webhook.handler(request(b"{}", {}, path="/other"), Context()))
print("RESULT " + json.dumps({
    "import_seconds": import_seconds,
    "first_request_seconds": first_request_seconds,
    "import_rss_mb": import_rss_mb,
    "max_rss_mb": peak_rss_mb(),
    "answers": [[a["statusCode"], json.loads(a["body"])] for a in answers],
    "compiled": [path for path in compiled if path.startswith(artifact)],
}))
"""


def run_artifact(build: Build, moto_endpoint: str) -> tuple[dict[str, Any], dict[str, str]]:
    names = ResourceNames.from_env({}).prefixed(f"built-{uuid.uuid4().hex[:8]}-")
    provisioned = provision(dynamodb_endpoint=moto_endpoint, sqs_endpoint=moto_endpoint, names=names)
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    arn = secrets.create_secret(Name=f"built-{uuid.uuid4().hex[:8]}", SecretString=SECRET)["ARN"]
    artifact = build.artifact("WebhookFunction")
    tables = dict(provisioned.tables)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(artifact),
        "PYTHONDONTWRITEBYTECODE": "1",  # like Lambda: the code directory is read-only
        "ARTIFACT": str(artifact),
        "KEY": SECRET.removeprefix("whsec_"),
        "USER_ID": f"user_{uuid.uuid4().hex[:8]}",
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "POWERTOOLS_SERVICE_NAME": "clerk-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "ClerkSync",
        "CLERK_WEBHOOK_SIGNING_SECRET_ARN": arn,
        "SIDE_EFFECTS_QUEUE_URL": provisioned.queue_url,
        "USERS_TABLE": tables["UsersTable"],
        "ORGANIZATIONS_TABLE": tables["OrganizationsTable"],
        "MEMBERSHIPS_TABLE": tables["MembershipsTable"],
        "SESSIONS_TABLE": tables["SessionsTable"],
        "IDEMPOTENCY_TABLE": tables["IdempotencyTable"],
        "SENDER_EMAIL": "",
    }
    result = subprocess.run(
        [str(build.python), "-S", "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-4000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT ")), {**tables, "user_id": env["USER_ID"]}


@pytest.fixture(scope="module")
def served(build: Build, moto_endpoint: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The built WebhookFunction, imported alone in a fresh interpreter, after its deliveries."""
    return run_artifact(build, moto_endpoint)


def test_built_webhook_runs_alone(served, moto_endpoint):
    outcome, where = served
    print(
        f"\ncold import {outcome['import_seconds'] * 1000:.0f} ms, first request "
        f"{outcome['first_request_seconds'] * 1000:.0f} ms, peak RSS {outcome['import_rss_mb']:.0f} MB "
        f"after the import, {outcome['max_rss_mb']:.0f} MB after the requests"
    )
    applied, forged, elsewhere = outcome["answers"]
    assert applied == [200, {"status": "applied", "type": "user.created", "id": where["user_id"]}]
    assert forged == [401, {"error": "invalid signature: no matching signature"}]
    assert elsewhere == [404, {"error": "not found"}]
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    item = dynamodb.get_item(TableName=where["UsersTable"], Key={"id": {"S": where["user_id"]}})["Item"]
    assert item["first_name"] == {"S": "Ann"}
    assert outcome["import_seconds"] < 10 and outcome["max_rss_mb"] < 256


def test_built_code_is_compiled_ahead_of_time(build, served):
    """Lambda's code directory is read-only: a module without its .pyc is compiled on every cold start.
    functions/Makefile ships unchecked-hash .pyc files, valid whatever the file times after unzipping."""
    outcome, _ = served
    assert outcome["compiled"] == [], f"{len(outcome['compiled'])} modules compiled from source"
    artifact = build.artifact("WebhookFunction")
    sources = [p for p in artifact.rglob("*.py") if "__pycache__" not in p.parts]
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert cached.exists(), f"no bytecode for {source.relative_to(artifact)}"
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached.relative_to(artifact)} is not an unchecked-hash .pyc (flags {flags})"


# --- the built ChangesFunction, fed by the local stream mapping -------------------------------------

CHANGES_CHILD = r"""
import json, os, sys
import clerk_sync.handlers.changes as changes

class Context:
    function_name = "ChangesFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ChangesFunction"
    aws_request_id = "req-1"
    log_group_name = log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 60000

assert changes.__file__.startswith(os.environ["PYTHONPATH"]), changes.__file__  # the artifact alone
print("RESULT " + json.dumps(changes.handler(json.load(sys.stdin), Context())))
"""


@dataclass
class BuiltChanges:
    """An Invoker: the built ChangesFunction in a fresh interpreter that sees only the artifact (a cold
    start per invocation), as `make sam-local`'s container would run it."""

    python: Path
    environ: dict[str, str]
    logical_id: str = "ChangesFunction"

    def invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.perf_counter()
        done = subprocess.run(
            [str(self.python), "-S", "-c", CHANGES_CHILD],
            input=json.dumps(event), env=self.environ, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        ms = (time.perf_counter() - started) * 1000
        if done.returncode:
            return Invocation(None, done.stderr[-2000:], ms)
        [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        return Invocation(json.loads(line.removeprefix("RESULT ")), None, ms)


def test_built_changes_function_publishes_what_the_stream_mapping_hands_it(build, moto_endpoint):
    """The artifact's ChangesFunction, handed Lambda-shaped stream batches (binary attributes as base64
    text) by the local stream mapping, publishes the user's change, complete object included."""
    names = ResourceNames.from_env({}).prefixed(f"built-changes-{uuid.uuid4().hex[:8]}-")
    provisioned = provision(dynamodb_endpoint=moto_endpoint, sqs_endpoint=moto_endpoint, names=names)
    assert provisioned.changes is not None  # the feed is on by default
    artifact = build.artifact("ChangesFunction")
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(artifact),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "POWERTOOLS_SERVICE_NAME": "clerk-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "ClerkSync",
        "CHANGE_DETAIL": "full",
        **provisioned.environment(),
    }
    complete = {"object": "user", "id": "user_built", "first_name": "Ann"}
    boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION).put_item(
        TableName=provisioned.tables["UsersTable"],
        Item={
            "id": {"S": "user_built"},
            "first_name": {"S": "Ann"},
            "version": {"N": "1732000000100"},
            "svix_id": {"S": "msg_built_changes"},
            "clerk": {"B": compress(complete)},
        },
    )
    template = load_template(TEMPLATE_PATH)
    spec = function_specs(template, TEMPLATE_PATH.parent)["ChangesFunction"]
    refs = {**provisioned.tables, "ChangesFailedQueue": provisioned.changes.failed_queue_url}
    local = LocalResources(template, {}, refs, provisioned.attributes)
    users = next(m for m in stream_event_source_mappings(spec, local) if m.table_id == "UsersTable")
    worker = StreamWorker(
        streams_client(moto_endpoint, REGION), dataclasses.replace(users, window_seconds=0),
        BuiltChanges(build.python, environ), REGION, sqs_client(moto_endpoint, REGION),
        provisioned.changes.failed_queue_url, retry_pause=0.1,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a cold start of the artifact per invocation, on a busy machine
    result = None
    while result is None and time.monotonic() < deadline:
        result = worker.poll()
    assert result is not None and result.invocation is not None, "no batch handed over"
    assert (result.outcome, result.invocation.error) == ("done", None)
    assert result.invocation.result == {"batchItemFailures": []}

    logs = logs_client(moto_endpoint, REGION)
    [kept] = logs.filter_log_events(logGroupName=provisioned.changes.log_group)["events"]
    event = json.loads(kept["message"])
    assert (event["source"], event["detail-type"]) == ("clerk-sync", "user.created")
    detail = event["detail"]
    assert detail["key"] == {"id": "user_built"} and detail["written_by"] == "msg_built_changes"
    assert detail["new"]["clerk"] == complete and detail["new"]["first_name"] == "Ann"
