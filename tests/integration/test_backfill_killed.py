"""`clerk-sync backfill` killed mid-run (SIGKILL: no clean-up runs) and `--resume`d, as processes (both
engines): every object lands, the pages completed before the kill are not read again, only the page in
flight is, and a second `--resume` has nothing to do."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clerk_sync.adapters.clerk.listings import LISTINGS
from clerk_sync.backfill.journal import Journal
from clerk_sync.backfill.runs import RunRecord, Stage, State
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync_local.cli import backfill as backfill_cli
from clerk_sync_local.stack.provision import QUEUE_TYPE, TABLE_TYPE, Provisioned, provision
from clerk_sync_local.stack.template import load_template
from conftest import Backend
from fakes.clerk_api import BASE_MS, SECRET_KEY, ClerkData, FakeClerkApi, populate_every_kind

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("clerk-sync")  # the console script of this environment
ORGANIZATIONS = 1_400  # pages at offsets 0, 475, 950 (500 a page, 25 shared with the previous page)
KILLED_AT = 950  # the third page: the process is killed while waiting for it
STARTUP_SECONDS = 30.0  # the interpreter, the SDK's imports, the first requests (≈ 2 s here)
SECONDS_PER_OBJECT = 0.05  # reading and writing one object before the kill (≈ 3 ms here)


@pytest.fixture
def tables(backend: Backend, request: pytest.FixtureRequest) -> Provisioned:
    """Fresh tables as the template makes them with the change feed off (no streams, no queue of its
    own): all a backfill uses, and what local provisioning handles while it learns the change feed."""
    names = backend.names(request.node.name)
    template = load_template()
    kept: dict[str, Any] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == TABLE_TYPE:
            properties = {k: v for k, v in resource["Properties"].items() if k != "StreamSpecification"}
            kept[logical_id] = {**resource, "Properties": properties}
        elif resource.get("Type") != QUEUE_TYPE or logical_id in names.queues:
            kept[logical_id] = resource
    return provision(
        dynamodb_endpoint=backend.dynamodb_endpoint,
        sqs_endpoint=backend.sqs_endpoint,
        names=names,
        region=backend.region,
        template={**template, "Resources": kept},
    )


class Gate:
    """Holds the first request for one page of a list until released, and says when it arrived."""

    def __init__(self, path: str, offset: int) -> None:
        self.path, self.offset = path, str(offset)
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: str, query: dict[str, list[str]]) -> None:
        if path == self.path and query.get("offset") == [self.offset] and not self.reached.is_set():
            self.reached.set()
            self.release.wait(timeout=300)


@pytest.fixture
def api() -> Iterator[FakeClerkApi]:
    with FakeClerkApi() as fake:
        yield fake


def populate(data: ClerkData) -> dict[Table, set[tuple[str, ...]]]:
    """A few objects of every kind, and organizations enough for three pages; every key by kind."""
    others = populate_every_kind(data)
    for j in range(len(data.organizations), ORGANIZATIONS):
        data.add_organization(f"org_{j:04d}", BASE_MS + j * 7000)
    return {
        Table.USERS: {(u,) for u in data.users},
        Table.ORGANIZATIONS: {(o,) for o in data.organizations},
        Table.MEMBERSHIPS: set(data.memberships),
        **{Table(name): keys for name, keys in others.items()},
    }


def stored_keys(backend: Backend, tables: Provisioned, table: Table) -> set[tuple[str, ...]]:
    spec = TABLES[table]
    names = {f"#k{i}": name for i, name in enumerate(spec.key_names)}
    pages = (
        backend.dynamodb()
        .get_paginator("scan")
        .paginate(
            TableName=tables.tables[spec.template_id],
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        )
    )
    return {tuple(item[n]["S"] for n in spec.key_names) for page in pages for item in page["Items"]}


def start(
    argv: list[str], backend: Backend, tables: Provisioned, api: FakeClerkApi, tmp_path: Path, name: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`clerk-sync backfill …` as a process of its own (this tree's code), output to files."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "CLERK_"))},
        **tables.environment(),
        "CLERK_SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "infra")]),
    }
    where = ["--api-url", api.url, "--endpoint", backend.dynamodb_endpoint, "--region", backend.region]
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(CLI), "backfill", *argv, *where, "--state-dir", str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return process, out, err


def finish(
    argv: list[str], backend: Backend, tables: Provisioned, api: FakeClerkApi, tmp_path: Path, name: str
) -> tuple[int, str, str]:
    process, out, err = start(argv, backend, tables, api, tmp_path, name)
    code = process.wait(timeout=120)
    return code, out.read_text(), err.read_text()


def run_record(journal: Journal) -> RunRecord:
    [record] = journal.recent()
    return record


def test_a_killed_run_resumes_where_it_was_killed_and_every_object_lands(
    backend: Backend, tables: Provisioned, api: FakeClerkApi, tmp_path: Path
) -> None:
    expected = populate(api.data)
    gate = Gate("/v1/organizations", KILLED_AT)
    api.before_request = gate
    journal = Journal(backend.dynamodb(), tables.tables["IdempotencyTable"])

    killed, _, killed_err = start([], backend, tables, api, tmp_path, "killed")
    deadline = time.monotonic() + STARTUP_SECONDS + SECONDS_PER_OBJECT * (len(api.data.users) + KILLED_AT)
    try:
        while not gate.reached.wait(timeout=0.2):
            assert killed.poll() is None, f"the run ended before the kill: {killed_err.read_text()}"
            assert time.monotonic() < deadline, f"no third page yet: {killed_err.read_text()}"
        before_kill, answered = run_record(journal), api.count()
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
        gate.release.set()

    # Killed waiting for its third organizations page: the record says two pages, and `running`.
    assert before_kill.state is State.RUNNING
    assert before_kill.progress[Table.USERS].stage is Stage.DONE
    assert before_kill.progress[Table.ORGANIZATIONS].stage is Stage.READING
    assert before_kill.progress[Table.ORGANIZATIONS].offset == KILLED_AT
    assert before_kill.summary.kinds[Table.ORGANIZATIONS].pages == 2
    assert Table.MEMBERSHIPS not in before_kill.summary.kinds
    assert before_kill.summary.api_requests == answered == 4  # users: count and a page; 2 pages
    assert run_record(journal).state is State.RUNNING  # nothing ran after the kill to say otherwise
    run_id = before_kill.run_id
    while api.count("/v1/organizations") < 3:  # the held request is answered (to nobody) and logged
        time.sleep(0.05)

    # It looks alive (progress seconds ago): --resume alone refuses, and says how to take it over.
    requests = len(api.requests)
    code, out, err = finish(["--resume"], backend, tables, api, tmp_path, "refused")

    assert code == 1, err
    assert re.fullmatch(
        rf"clerk-sync: error: run {re.escape(run_id)} looks alive: it is running and made progress "
        r"\d+ s ago \(a run without progress for 120 s is taken to have died\)\. If its process is gone "
        r"\(killed, its machine restarted\), `clerk-sync backfill --resume --take-over` continues it now",
        err.splitlines()[-1],
    ), err
    assert len(api.requests) == requests  # nothing was read
    assert run_record(journal).state is State.RUNNING

    code, out, err = finish(["--resume", "--take-over"], backend, tables, api, tmp_path, "resumed")

    assert code == 0, err
    assert re.search(
        rf"^backfill: resuming run {re.escape(run_id)} \(running, last progress \d+ s ago, taken over\)$",
        err,
        re.MULTILINE,
    ), err
    resumed = api.requests[requests:]
    assert not [r for r in resumed if r.path.startswith("/v1/users")]  # users were done: not read again
    organizations = [int(r.query["offset"][0]) for r in resumed if r.path == "/v1/organizations"]
    assert organizations == [KILLED_AT]  # pages 1 and 2 are not read again; the one in flight is
    for table in LISTINGS:
        assert stored_keys(backend, tables, table) == expected[table], table
    assert "organizations read    1400: created 1400, updated 0, unchanged 0, stale 0" in out, out
    record = run_record(journal)
    assert record.state is State.DONE and record.summary.kinds[Table.ORGANIZATIONS].pages == 3
    # The whole run's requests: both processes', but the one the kill left unanswered.
    assert record.summary.api_requests == len(api.requests) - 1 == answered + len(resumed)
    head = rf"backfill run {re.escape(run_id)}: [0-9.]+ s, {record.summary.api_requests} Clerk API requests\n"
    assert re.match(head, out), out
    assert all(progress.stage is Stage.DONE for progress in record.progress.values())

    requests = len(api.requests)
    code, out, err = finish(["--resume"], backend, tables, api, tmp_path, "again")

    assert code == 0, err
    assert "backfill: nothing to resume: every recorded run is done" in err
    assert len(api.requests) == requests


def test_take_over_goes_with_resume(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="clerk-sync")
    backfill_cli.add_parser(parser.add_subparsers(dest="command"))
    nowhere = ["--endpoint", "http://127.0.0.1:9", "--region", "us-east-1"]  # never reached
    args = parser.parse_args(["backfill", "--take-over", *nowhere])

    assert backfill_cli.run(args, {"CLERK_SECRET_KEY": SECRET_KEY}) == 2
    assert capsys.readouterr().err.strip() == (
        "clerk-sync: error: --take-over goes with --resume: it takes over the run --resume continues"
    )
