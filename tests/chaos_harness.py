"""Chaos delivery: a Svix-like sender, faults in every AWS call path, and the state still converges.

A seeded Clerk history is delivered through a local Function URL endpoint in random order, with
duplicates and concurrent repeats, retried on a compressed Svix schedule, while DynamoDB throttles
and times out, SQS refuses sends, the webhook handler dies between its entity write and its
idempotency record, and the worker dies mid-batch. At the end every table equals the in-order model,
every welcome e-mail went out exactly once, and every clean-up ran exactly once.

`CHAOS_EVENTS` (default 2,000) sets the size, `CHAOS_EVENTS_MOTO` or `CHAOS_EVENTS_DYNAMODB_LOCAL`
overrides it on one engine, `CHAOS_SEED` replays a run. `make chaos` runs 50,000 events on each, and
shows the lines appended to $CHAOS_PROGRESS (once a minute) and $CHAOS_SUMMARY (once a run).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from typing import Any

from builders import SECRET_KEY
from chaos_feed import FeedChaos
from clerk_sync.app import extensions
from clerk_sync.app.batch import run_batch
from clerk_sync.domain.tables import Table
from clerk_sync.observability import logger
from clerk_sync_local.stack.function_url import bind_server
from clerk_sync_local.stack.functions import LocalResources, function_specs
from clerk_sync_local.stack.pool import ContainerPool
from clerk_sync_local.stack.queue_worker import EventSourceMapping, QueueWorker, event_source_mappings
from clerk_sync_local.stack.template import TEMPLATE_PATH, load_template
from faults import Faults
from histories import ACTIONS, Clerk, expected_state, parents_of, stored_state
from stacks import Stack, captured_emails_in_process, make_worker
from svix_simulator import DeliveryReport, Message, deliver_all


def size(engine: str) -> int:
    """How many events to deliver on this engine."""
    own = os.environ.get(f"CHAOS_EVENTS_{engine.upper().replace('-', '_')}")
    return int(own or os.environ.get("CHAOS_EVENTS") or 2000)


def feed_size(engine: str) -> int:
    """How many events to deliver on this engine with the change feed on (`CHAOS_FEED_EVENTS`)."""
    own = os.environ.get(f"CHAOS_FEED_EVENTS_{engine.upper().replace('-', '_')}")
    return int(own or os.environ.get("CHAOS_FEED_EVENTS") or 1000)


CONTAINERS = 4  # concurrent "Lambda containers" of each function
PROGRESS_SECONDS = 60.0  # s between progress lines (only with $CHAOS_PROGRESS)
HANDLER_TIMEOUT = 1.0  # s: how long a crashed delivery's in-progress record blocks its retries


def worker_container(stack: Stack, faults: Faults) -> ContainerPool:
    """A SideEffectsFunction container that dies mid-batch now and then (its batch then fails whole)."""
    worker = make_worker(stack, hooks=faults.worker_hooks())
    return ContainerPool(
        "SideEffectsFunction", [faults.worker(lambda event, context: run_batch(worker, event, context))], 5.0
    )


def history(seed: int, size: int) -> list[dict[str, Any]]:
    """A Clerk history of about `size` events; users and organizations keep arriving, some leave."""
    rng = random.Random(seed)
    clerk = Clerk(ns=f"c{seed % 100000}x")
    weights = {
        "user": 6,
        "delete_user": 1,
        "org": 2,
        "delete_org": 1,
        "join": 6,
        "leave": 2,
        "session": 4,
        "end_session": 3,
        "invite": 2,
        "role": 1,
        "delete_role": 1,
        "permission": 1,
        "delete_permission": 1,
        "domain": 2,
        "delete_domain": 1,
        "waitlist": 1,
        "bill": 2,
        "subscribe": 1,
        "pay": 1,
        "org_bill": 1,
        "org_subscribe": 1,
        "org_pay": 1,
    }
    odds = [weights[action] for action in ACTIONS]  # a KeyError names an action without a weight

    def pick(existing: dict[int, str], fresh_chance: float) -> int:
        live = [k for k, state in existing.items() if state == "live"]
        return len(existing) if not live or rng.random() < fresh_chance else rng.choice(live)

    while len(clerk.events) < size:
        action = rng.choices(ACTIONS, odds)[0]
        clerk.act(action, pick(clerk.users, 0.08), pick(clerk.orgs, 0.03))
    return clerk.events


def drain(workers: list[QueueWorker], stack: Stack, deliveries_done: threading.Event) -> None:
    """Poll until the deliveries are over and the queue has nothing visible, in flight or delayed."""
    while True:
        results = [w.poll(wait_seconds=1) for w in workers]
        if any(results) or not deliveries_done.is_set():
            continue
        attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
        pending = sum(
            int(attrs[k])
            for k in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
        if pending == 0:
            return


def run_chaos(stack: Stack, engine: str, feed: bool = False) -> None:
    """Deliver a seeded history under faults and check the end state (see the module docstring); with
    `feed`, the change feed runs too, under faults of its own, and its events are checked
    (chaos_feed.py)."""
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))
    events_wanted = feed_size(engine) if feed else size(engine)
    print(f"chaos seed {seed} ({events_wanted} events on {engine}): replay with CHAOS_SEED={seed}")
    faults = Faults(seed)
    events = history(seed, events_wanted)
    changes = FeedChaos(stack, stack.provisioned, seed) if feed and stack.provisioned else None
    messages = [Message(f"msg_{seed}_{n}", json.dumps(e).encode()) for n, e in enumerate(events)]

    # A line per delivery and per moto request, held by pytest's log capture, is gigabytes at 50,000
    # events; the failures that matter are asserted with their timelines. Errors are still logged.
    quieted = {name: logging.getLogger(name).level for name in ("werkzeug", logger.name)}
    for name in quieted:
        logging.getLogger(name).setLevel(logging.WARNING)
    cleanups: Counter[str] = Counter()
    extensions.register("user_cleanup")(lambda m: cleanups.update([f"user:{m.target}"]))
    extensions.register("organization_cleanup")(lambda m: cleanups.update([f"org:{m.target}"]))
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "2"})
    receivers = [
        faults.receiver(stack.another_receiver(hooks=faults.receiver_hooks()).handle)
        for _ in range(CONTAINERS)
    ]
    endpoint = bind_server("127.0.0.1", 0, say=lambda line: None)
    endpoint.function = ContainerPool("WebhookFunction", receivers, HANDLER_TIMEOUT)
    server = threading.Thread(target=endpoint.serve_forever, daemon=True)
    server.start()
    mapping = _side_effects_mapping(stack)
    loops = [
        QueueWorker(
            stack.sqs, stack.queue_url, mapping, worker_container(stack, faults), stack.endpoints.region
        )
        for _ in range(2)
    ]
    done = threading.Event()
    started = time.monotonic()
    drainer = threading.Thread(target=drain, args=(loops, stack, done), daemon=True)
    report = DeliveryReport()
    progress = threading.Thread(
        target=_progress, args=(engine, seed, len(events), report, faults, done), daemon=True
    )
    try:
        if changes is not None:
            changes.start()
        drainer.start()
        progress.start()
        deliver_all(endpoint.url, SECRET_KEY, messages, seed, report=report)
        done.set()
        drainer.join(timeout=600)
    finally:
        done.set()
        endpoint.shutdown()
        extensions.clear()
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)
    context = f"seed {seed}: {dict(faults.injected)}, statuses {Counter(report.statuses)}"
    assert not report.failed, f"never acknowledged: {report.failed[:5]} ({context})\n" + "\n".join(
        f"{svix_id}: " + ", ".join(f"{t:.3f}:{s}" for t, s in report.by_message[svix_id])
        for svix_id in report.failed[:5]
    )
    assert not drainer.is_alive(), f"the queue never drained ({context})"
    if len(events) >= 2000:  # every fault path is live (at this size each kind is expected 8+ times)
        assert set(faults.injected) == set(Faults.KINDS), context

    svix_ids = [m.svix_id for m in messages]
    expected = expected_state(events, svix_ids)
    stored = stored_state(stack, set(expected))
    deleted = {key for key, item in expected.items() if item.get("deleted")}
    parents = parents_of(events)
    for key, item in expected.items():
        if parents[key] & deleted:  # children of deleted users/organizations: gone for good
            got = stored.get(key)
            assert got is None or got.get("deleted") is True, (
                f"live child of a deleted parent {key}: {got} ({context})\n"
                + _timeline(events, messages, report.by_message, [key[1], item.get("user_id", "")])
            )
            continue
        want = {k: v for k, v in item.items() if k != "svix_id"}
        have = {k: v for k, v in (stored.get(key) or {}).items() if k != "svix_id"}
        assert have == want, (
            f"{key} differs: stored {have.get('version')}, expected {want.get('version')} ({context})\n"
            + _timeline(events, messages, report.by_message, [key[1]])
        )

    # Effects follow the write: a user.created greets once if its write applied and the user still
    # lived when the worker ran; a stale one (a newer version or the tombstone was there) greets no one,
    # unless an earlier attempt applied the write and queued the greeting before failing (a 5xx after
    # the write): its retry then answers stale, and the greeting already queued stands.
    sent = captured_emails_in_process(stack.endpoints.region or "us-east-1")
    welcomes = Counter(to for m in sent for to in m["destinations"]["ToAddresses"])
    for event, message in zip(events, messages, strict=True):
        if event["type"] != "user.created":
            continue
        address = event["data"]["email_addresses"][0]["email_address"]
        outcome = report.outcomes.get(message.svix_id)
        live = not expected.get((Table.USERS, event["data"]["id"]), {}).get("deleted")
        failed_before = any(status >= 500 for _, status in report.by_message.get(message.svix_id, []))
        maybe = (outcome == "applied" and not live) or (outcome == "stale" and failed_before)
        want = {0, 1} if maybe else {1 if outcome == "applied" else 0}
        assert welcomes[address] in want, (
            f"{welcomes[address]} welcome e-mails to {address}, its user.created {outcome} ({context})"
        )
    deletions = Counter(
        f"user:{e['data']['id']}" if e["type"] == "user.deleted" else f"org:{e['data']['id']}"
        for e in events
        if e["type"] in ("user.deleted", "organization.deleted")
    )
    assert cleanups == deletions, (
        f"clean-ups {cleanups - deletions} / missing {deletions - cleanups} ({context})"
    )
    published = changes.check(context) if changes is not None else None
    _summarize(engine, seed, len(events), time.monotonic() - started, faults, report.statuses, published)


def _progress(
    engine: str, seed: int, events: int, report: DeliveryReport, faults: Faults, done: threading.Event
) -> None:
    """A line a minute, appended to $CHAOS_PROGRESS when set, until the deliveries are done."""
    path, started = os.environ.get("CHAOS_PROGRESS"), time.monotonic()
    while path and not done.wait(PROGRESS_SECONDS):
        line = (
            f"chaos {engine} (seed {seed}): {report.acknowledged():,} of {events:,} events acknowledged, "
            f"{report.attempts:,} attempts, {sum(dict(faults.injected).values()):,} faults, "
            f"{(time.monotonic() - started) / 60:.0f} min"
        )
        with open(path, "a") as out:
            out.write(line + "\n")


def _summarize(
    engine: str,
    seed: int,
    events: int,
    seconds: float,
    faults: Faults,
    statuses: list[int],
    feed: dict[str, int] | None = None,
) -> None:
    """One JSON line per passed run (`make chaos` prints them)."""
    line: dict[str, Any] = {
        "engine": engine,
        "seed": seed,
        "events": events,
        "minutes": round(seconds / 60, 1),
        "faults": dict(faults.injected),
        "answers": dict(Counter(statuses)),
    }
    if feed is not None:
        line["change_feed"] = feed
    append_summary(line)


def append_summary(line: dict[str, Any]) -> None:
    """Append one JSON line to $CHAOS_SUMMARY when it is set."""
    path = os.environ.get("CHAOS_SUMMARY")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(line) + "\n")


def _timeline(
    events: list[dict[str, Any]],
    messages: list[Message],
    by_message: dict[str, list[tuple[float, int]]],
    ids: list[str],
) -> str:
    """Every delivery of the events that touch these ids, with its answers in time order."""
    lines = []
    for event, message in zip(events, messages, strict=True):
        text = json.dumps(event["data"])
        if any(f'"{i}"' in text for i in ids if i):
            answers = ", ".join(f"{t:.3f}:{s}" for t, s in by_message.get(message.svix_id, []))
            lines.append(f"{message.svix_id} {event['type']} {event.get('timestamp')} -> {answers}")
    return "\n".join(lines)


def _side_effects_mapping(stack: Stack) -> EventSourceMapping:
    """The SideEffectsFunction's SQS event as template.yaml configures it (batch size, window)."""
    template = load_template()
    spec = function_specs(template, TEMPLATE_PATH.parent)["SideEffectsFunction"]
    local = LocalResources(template=template, environ={}, refs={"SideEffectsQueue": stack.queue_url})
    [mapping] = event_source_mappings(spec, local)
    return mapping
