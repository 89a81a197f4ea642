"""The histories the property and chaos tests deliver: every synced table, in the shapes Clerk sends."""

from __future__ import annotations

import json
import random
from typing import Any

from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import TABLES, Table
from clerk_sync_local.cli.send import SAMPLES_DIR
from histories import ACTIONS, Clerk, expected_state, normalise, parents_of


def long_history() -> list[dict[str, Any]]:
    """Every action many times over, on few users and organizations (so parents die mid-history)."""
    rng = random.Random(13)
    clerk = Clerk(ns="h")
    for _ in range(3000):
        clerk.act(rng.choice(ACTIONS), rng.randrange(6), rng.randrange(4))
    return clerk.events


def planned_table(event: dict[str, Any]) -> str:
    write = changes_of(parse_event(json.dumps(event).encode(), "msg_h", 0)).write
    assert write is not None, event["type"]
    return write.table


def test_histories_write_every_table_webhooks_write():
    written = {table for table, spec in TABLES.items() if spec.from_webhooks}  # not plans: backfill's
    assert written and {planned_table(event) for event in long_history()} == written


def test_every_event_a_history_emits_is_shaped_like_its_sample():
    """Each type has a sample; its payload has no field the sample lacks and is planned onto the same
    table (the deletions carry `{object, id, deleted}` as Clerk's do)."""
    for event in long_history():
        sample = json.loads((SAMPLES_DIR / f"{event['type']}.json").read_text())
        assert set(event["data"]) <= set(sample["data"]), event["type"]
        assert planned_table(event) == planned_table(sample), event["type"]


def test_billing_histories_have_user_and_organization_payers():
    payers = [event["data"]["payer"] for event in long_history() if "payer" in event["data"]]
    assert any(p["user_id"] for p in payers) and any(p["organization_id"] for p in payers)


def test_a_deleted_domain_still_belongs_to_its_deleted_organization():
    """Its tombstone keeps only its id, and the organization's clean-up may tombstone it again at the
    organization's deletion time: like any child of a deleted parent, it is only required to be gone."""
    clerk = Clerk(ns="t")
    for action in ("org", "domain", "delete_domain", "delete_org"):
        clerk.act(action, 0, 0)
    domain = (Table.DOMAINS, "orgdm_t1")
    parents = parents_of(clerk.events)
    assert parents[domain] == {(Table.ORGANIZATIONS, "org_t0")}
    state = expected_state(clerk.events, [f"msg_{n}" for n in range(len(clerk.events))])
    assert state[domain]["deleted"] is True and domain not in normalise(state, parents)
