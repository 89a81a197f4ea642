"""`make load`: sustained concurrent deliveries through a local Function URL against DynamoDB Local.

Several client threads post signed `user.created` / `user.updated` deliveries for a fixed time to a
pool of WebhookFunction containers. Reports throughput, p50/p99 latency and errors (must be 0), then
checks that every user holds the newest version that was acknowledged (nothing lost).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.domain.signature import sign
from clerk_sync.settings import SECRET_ENV, load_config
from clerk_sync_local.emulator.engines import DynamoDBLocalEngine, MotoEngine
from clerk_sync_local.stack.function_url import bind_server
from clerk_sync_local.stack.pool import ContainerPool
from clerk_sync_local.stack.provision import ResourceNames, provision

from benchmarks.__main__ import quiet
from benchmarks.deliveries import KEY, SECRET, T0, _user
from benchmarks.report import machine, write_section

REGION = "us-east-1"


@dataclass
class Client:
    """One sender thread: its own users, the newest version it got acknowledged for each."""

    port: int
    seed: int
    latencies: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    newest: dict[str, int] = field(default_factory=dict)

    def run(self, until: float) -> None:
        rng = random.Random(self.seed)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        version = T0
        while time.monotonic() < until:
            version += 1
            if self.newest and rng.random() < 0.3:
                user_id, event_type = rng.choice(list(self.newest)), "user.updated"
            else:
                user_id, event_type = f"user_load_{self.seed}_{uuid.uuid4().hex[:10]}", "user.created"
            body = json.dumps(
                {"type": event_type, "data": _user(user_id, version), "timestamp": version}
            ).encode()
            msg_id, stamp = "msg_" + uuid.uuid4().hex, int(time.time())
            headers = {
                "svix-id": msg_id,
                "svix-timestamp": str(stamp),
                "svix-signature": sign(KEY, msg_id, stamp, body),
                "content-type": "application/json",
            }
            started = time.perf_counter()
            connection.request("POST", "/webhooks/clerk", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            self.latencies.append((time.perf_counter() - started) * 1000)
            if response.status == 200:
                self.newest[user_id] = version
            else:
                self.errors.append(response.status)
        connection.close()


def main(argv: list[str] | None = None) -> int:
    """Run the load, print the figures; exit 1 on any error or lost write."""
    parser = argparse.ArgumentParser(prog="make load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--containers", type=int, default=4)
    args = parser.parse_args(argv)
    quiet()
    with MotoEngine() as moto, DynamoDBLocalEngine() as ddb:
        names = ResourceNames.from_env({}).prefixed(f"load-{int(time.time())}-")
        provisioned = provision(
            dynamodb_endpoint=ddb.endpoint, sqs_endpoint=moto.endpoint, names=names, region=REGION
        )
        env = {SECRET_ENV: SECRET, **provisioned.environment()}
        endpoints = Endpoints(dynamodb=ddb.endpoint, sqs=moto.endpoint, region=REGION)
        containers = [build_receiver(load_config(env), endpoints).handle for _ in range(args.containers)]
        server = bind_server("127.0.0.1", 0, say=lambda line: None)
        server.function = ContainerPool("WebhookFunction", containers, 8.0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        clients = [Client(server.server_address[1], seed) for seed in range(args.clients)]
        until = time.monotonic() + args.seconds
        started = time.perf_counter()
        threads = [threading.Thread(target=c.run, args=(until,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        server.shutdown()
        lost = _lost(ddb.endpoint, provisioned.tables["UsersTable"], clients)
    latencies = sorted(ms for c in clients for ms in c.latencies)
    errors = [status for c in clients for status in c.errors]
    users = sum(len(c.newest) for c in clients)
    p50, p99 = statistics.median(latencies), latencies[int(0.99 * len(latencies))]
    figures = [
        f"load: {args.clients} clients, {args.containers} containers, {elapsed:.1f} s against DynamoDB Local",
        f"  deliveries   {len(latencies)} ({len(latencies) / elapsed:.0f}/s)",
        f"  latency      p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"  errors       {len(errors)} {sorted(set(errors)) if errors else ''}".rstrip(),
        f"  final check  {users} users, {lost} without their newest acknowledged version",
    ]
    print("\n".join(figures))
    write_section("load", _section(args, figures))
    return 1 if errors or lost else 0


def _section(args: argparse.Namespace, figures: list[str]) -> str:
    """The load section of docs/performance.md."""
    return "\n".join(
        [
            f"## Load (`make load`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {machine()}. {args.clients} client threads post signed `user.created` / "
            f"`user.updated` deliveries for {args.seconds:g} s through the local Function URL to "
            f"{args.containers} WebhookFunction containers; DynamoDB Local for the tables, SQS on moto; "
            "everything (clients, containers, engines) shares the machine's cores.",
            "",
            "```",
            *figures,
            "```",
        ]
    )


def _lost(endpoint: str, table: str, clients: list[Client]) -> int:
    """Users whose stored version is not the newest acknowledged one."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    stored: dict[str, int] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="id, version"):
        stored.update({item["id"]["S"]: int(item["version"]["N"]) for item in page["Items"]})
    expected: dict[str, Any] = {u: v for c in clients for u, v in c.newest.items()}
    return sum(1 for user, version in expected.items() if stored.get(user) != version)


if __name__ == "__main__":
    raise SystemExit(main())
