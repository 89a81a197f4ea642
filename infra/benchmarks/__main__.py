"""`make bench`: measure, print, and write docs/performance.md."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.observability import logger
from clerk_sync.settings import (
    ACCESS_KEY_ENV,
    DEFAULT_REGION_ENV,
    DYNAMODB_ENDPOINT_ENV,
    METRICS_DISABLED_ENV,
    SECRET_ACCESS_KEY_ENV,
    SECRET_ENV,
    SQS_ENDPOINT_ENV,
)
from clerk_sync_local.emulator.engines import DynamoDBLocalEngine, MotoEngine
from clerk_sync_local.stack.provision import ResourceNames, provision
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template

from benchmarks import cost, deliveries, feed, imports, items, memory, package
from benchmarks.report import REPORT, machine, write_section

ROOT = TEMPLATE_PATH.parent
TARGET_IMPORT_RATIO = 0.5
TARGET_LATENCY_RATIO = 1.3


def memory_size() -> int:
    """The WebhookFunction's configured memory (MB)."""
    template = load_template()
    own = template["Resources"]["WebhookFunction"]["Properties"].get("MemorySize")
    value = own or template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 512


def quiet() -> None:
    """Dummy credentials for the local engines; no per-request logs or metrics on stdout."""
    for name in (ACCESS_KEY_ENV, SECRET_ACCESS_KEY_ENV):
        os.environ.setdefault(name, "bench")
    os.environ[METRICS_DISABLED_ENV] = "true"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logger.setLevel("WARNING")


def package_lines(sizes: list[package.ArtifactSize] | str) -> list[str]:
    """The built artifacts' sizes, or why they were not measured."""
    lines = ["## Package (`sam build`, arm64, from scratch in this run)", ""]
    if isinstance(sizes, str):
        return [*lines, sizes, ""]
    lines += ["| function | unzipped | zipped (upload) |", "|---|---|---|"]
    lines += [f"| {s.function} | {s.unzipped_mb:.1f} MB | {s.zipped_mb:.1f} MB |" for s in sizes]
    budget = "WebhookFunction budget (docs/deployment.md): 42 MB unzipped, 27 MB zipped"
    return [*lines, "", f"MB = 10^6 bytes. {budget}.", ""]


def main() -> int:
    """Run every measurement side by side and write the report."""
    quiet()
    started_at, load_at_start = datetime.now(UTC), os.getloadavg()[0]
    lines: list[str] = []
    crt = subprocess.run([sys.executable, "-c", "import awscrt"], capture_output=True).returncode == 0
    with tempfile.TemporaryDirectory(prefix="clerk-sync-bench-") as folder:
        scratch = Path(folder)
        built = package.build(scratch)
        # the artifact's bytecode is for Python 3.13 (Lambda's): another interpreter would recompile it
        usable = built if isinstance(built, Path) and sys.version_info[:2] == (3, 13) else None
        timings = imports.measure(usable, scratch)
        sizes = package.sizes(built, scratch) if isinstance(built, Path) else built
    naive = timings[0].median
    origin = (
        "the `sam build` artifact, as Lambda loads it (bytecode compiled ahead of time by functions/Makefile)"
        if usable
        else f"this virtualenv ({built if isinstance(built, str) else 'Python is not 3.13'})"
    )
    lines += [
        "## Cold import (fresh interpreters, median of 9, start-up of the interpreter excluded)",
        "",
        "Each handler module's import includes its init (configuration, clients), configured as the "
        "template deploys it (the webhook's signing secret in Secrets Manager, the worker's e-mail on); "
        f"handlers from {origin}. "
        "`python -S`, only the candidate's own code on the path, nothing cached between runs.",
        "",
        "| module | median | ratio to the naive set | target |",
        "|---|---|---|---|",
    ]
    for timing in timings:
        ratio = timing.median / naive
        target = f"≤ {TARGET_IMPORT_RATIO}" if timing.label in imports.HANDLERS else ""
        lines.append(f"| {timing.label} | {timing.median * 1000:.0f} ms | {ratio:.2f} | {target} |")
    lines += ["", f"Naive set: `import {imports.NAIVE}`, from this virtualenv's site-packages."]
    by_label = {timing.label: timing.median for timing in timings}
    lines.append(
        f"`{imports.READ_LABEL}`: what an application's Lambda pays for the read library (import and "
        "DynamoDB client, no request; PynamoDB and the Clerk SDK load only at the first `ensure_*` miss), "
        f"{by_label[imports.READ_LABEL] / by_label['WebhookFunction']:.2f} × the WebhookFunction's import, "
        "from the same packages."
    )
    if usable:
        lines.append(
            '"Sources only" is the same artifact without its `__pycache__` folders, as SAM\'s standard '
            "Python builder ships it: on Lambda's read-only code directory every cold start compiles it."
        )
    if crt:
        lines.append(
            "Note: `awscrt` is installed in this interpreter, so botocore imports it in both columns; "
            "the Lambda bundle has no awscrt."
        )
    lines.append("")
    region = "us-east-1"
    memory_mb = memory_size()
    latencies: list[feed.Latency] = []
    with MotoEngine() as moto, DynamoDBLocalEngine() as ddb_local:
        for backend, dynamodb in (("DynamoDB Local", ddb_local.endpoint), ("moto", moto.endpoint)):
            names = ResourceNames.from_env({}).prefixed(f"bench-{backend.split()[0].lower()}-")
            provisioned = provision(
                dynamodb_endpoint=dynamodb, sqs_endpoint=moto.endpoint, names=names, region=region
            )
            endpoints = Endpoints(dynamodb=dynamodb, sqs=moto.endpoint, region=region)
            results, per_second = deliveries.measure(provisioned, endpoints)
            latencies.append(feed.latency(backend, dynamodb, moto.endpoint, provisioned, region))
            lines += [
                f"## Deliveries on {backend} (SQS on moto), 100 per type, sequential",
                "",
                "One event type of each group that shares a table and its event-type function (the group's "
                "other types make the same requests: tests/integration/test_delivery_semantics.py counts "
                "them).",
                "",
                "| event type | AWS calls per delivery | median | p99 "
                "| floor (the same requests, raw) | ratio |",
                "|---|---|---|---|---|---|",
            ]
            for r in results:
                call_text = ", ".join(f"{op.split('.')[1]} × {n:g}" for op, n in r.calls.items()) or "none"
                floor = f"{r.floor_median_ms:.2f} ms" if r.floor_median_ms else "—"
                overhead = f"{r.median_ms / r.floor_median_ms:.2f}" if r.floor_median_ms else "—"
                lines.append(
                    f"| {r.event_type} | {call_text} | {r.median_ms:.2f} ms | {r.p99_ms:.2f} ms | {floor} "
                    f"| {overhead} |"
                )
            lines += ["", f"Throughput, one thread, mixed types: {per_second:.0f} deliveries/s.", ""]
            if backend == "DynamoDB Local":
                env = {
                    SECRET_ENV: deliveries.SECRET,
                    DYNAMODB_ENDPOINT_ENV: dynamodb,
                    SQS_ENDPOINT_ENV: moto.endpoint,
                    DEFAULT_REGION_ENV: region,
                    **provisioned.environment(),
                }
                rss = memory.peak_rss_mb(env)
                lines += [
                    "## Memory",
                    "",
                    f"Peak RSS of a fresh interpreter that imports the WebhookFunction handler and serves "
                    f"1,000 deliveries: {rss:.0f} MB (function memory: {memory_mb} MB).",
                    "",
                ]
                cost_rows = results
        feed_timings = feed.publish_timings(moto.endpoint, region)
    lines += items.size_lines(items.sample_sizes())
    lines += items.size_lines(items.example_sizes(), "Clerk's published example payloads")
    lines += [
        "## Cost per million deliveries (us-east-1 list prices, DynamoDB Local latencies)",
        "",
        f"Lambda arm64 at {memory_mb} MB billed for the measured median duration; DynamoDB on-demand write "
        f"units {cost.UNITS_TEXT}; SQS: send + receive + delete per side-effect message.",
        "",
        "| event type | Lambda | DynamoDB | SQS | total behind the Function URL "
        "| total behind the HTTP API |",
        "|---|---|---|---|---|---|",
    ]
    for r in cost_rows:
        c = cost.per_million(r.calls, r.write_units, r.median_ms, memory_mb)
        lines.append(
            f"| {r.event_type} | ${c.lambda_usd:.2f} | ${c.dynamodb_usd:.2f} | ${c.sqs_usd:.2f} | "
            f"${c.total(cost.FUNCTION_URL_PER_MILLION):.2f} | ${c.total(cost.HTTP_API_PER_MILLION):.2f} |"
        )
    lines += ["", *feed.lines(feed.event_sizes(), feed_timings, latencies)]
    lines += ["", *package_lines(sizes)]
    header = [
        "## Benchmarks (`make bench`)\n",
        f"Measured by `make bench` on {started_at:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        f"Load average (1 min): {load_at_start:.1f} at the start of the run, {os.getloadavg()[0]:.1f} at its "
        f"end (above the core count, {os.cpu_count()}, other work was sharing the cores).",
        "",
    ]
    report = "\n".join([*header, *lines])
    print(report)
    write_section("bench", report)
    print(f"\nwritten to {REPORT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
