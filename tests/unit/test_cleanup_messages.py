"""Clean-up continuations: the worker's configuration, the messages it hands on, and their keys."""

from __future__ import annotations

import json

import pytest
from clerk_sync.domain import effects
from clerk_sync.domain.deadline import Deadline
from clerk_sync.domain.effects import PoisonMessageError, Position, parse_message
from clerk_sync.settings import CleanupBudget, ConfigError, load_worker_config
from clerk_sync_local.stack.context import LocalContext

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/clerk-sync-side-effects"
ORG_CLEANUP = {
    "kind": "organization_cleanup",
    "svix_id": "msg_1",
    "organization_id": "org_1",
    "deleted_at": 5,
}


def test_the_worker_needs_the_queue_for_its_continuations():
    with pytest.raises(ConfigError, match="SIDE_EFFECTS_QUEUE_URL"):
        load_worker_config({})
    config = load_worker_config({"SIDE_EFFECTS_QUEUE_URL": QUEUE_URL})
    assert (config.side_effects_queue_url, config.cleanup) == (QUEUE_URL, CleanupBudget())


def test_the_clean_up_budget_is_configurable_and_checked():
    config = load_worker_config(
        {"SIDE_EFFECTS_QUEUE_URL": QUEUE_URL, "CLEANUP_SLICE_SECONDS": "1.5", "CLEANUP_MARGIN_SECONDS": "2"}
    )
    assert config.cleanup == CleanupBudget(slice_seconds=1.5, margin_seconds=2.0)
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(ConfigError, match="CLEANUP_SLICE_SECONDS"):
            load_worker_config({"SIDE_EFFECTS_QUEUE_URL": QUEUE_URL, "CLEANUP_SLICE_SECONDS": bad})


def test_a_part_ends_at_its_slice_or_before_the_timeout_less_the_margin():
    budget = CleanupBudget(slice_seconds=5, margin_seconds=3)
    assert not Deadline.for_part(budget, None).passed()
    assert not Deadline.for_part(budget, LocalContext("SideEffectsFunction", timeout_seconds=30)).passed()
    assert Deadline.for_part(budget, LocalContext("SideEffectsFunction", timeout_seconds=2)).passed()


def test_a_continuation_resumes_where_the_part_stopped_under_its_own_key():
    first = parse_message(json.dumps(ORG_CLEANUP))
    assert (first.part, first.position, first.key) == (
        1,
        Position("memberships"),
        "organization_cleanup#msg_1#org_1",
    )
    stopped = Position("memberships", {"organization_id": "org_1", "user_id": "user_9"})
    second = parse_message(json.dumps(effects.cleanup_continuation(first, stopped)))
    assert (second.part, second.position, second.fields["deleted_at"]) == (2, stopped, 5)
    assert second.key == "organization_cleanup#msg_1#org_1#part2"
    third = parse_message(json.dumps(effects.cleanup_continuation(second, Position("memberships", None))))
    assert third.key.endswith("#part3")


@pytest.mark.parametrize(
    "fields",
    [
        {"part": 1, "phase": "memberships"},
        {"part": "2", "phase": "memberships"},
        {"part": True, "phase": "memberships"},
        {"part": 2, "phase": "sessions"},  # organizations have no sessions phase
        {"part": 2, "phase": "memberships", "start_key": {"user_id": 7}},
        {"part": 2, "phase": "memberships", "start_key": {}},
    ],
)
def test_malformed_continuations_are_poison(fields):
    with pytest.raises(PoisonMessageError):
        parse_message(json.dumps({**ORG_CLEANUP, **fields}))


def test_only_clean_ups_have_parts():
    with pytest.raises(PoisonMessageError, match="part"):
        parse_message(json.dumps({"kind": "welcome_email", "svix_id": "m", "user_id": "u", "part": 2}))
