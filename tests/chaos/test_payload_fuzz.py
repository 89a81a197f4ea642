"""Every field of every bundled sample, set to every kind of hostile JSON value: 200 or 400, never 5xx,
never an echo.

The samples are the signed ones `clerk-sync send` posts. Any path (envelope fields, `type` and the key
fields included, nested objects and list items too) gets null, a boolean, an int, a huge int, a float,
a number at the edges of what DynamoDB stores and returns, NaN or Infinity written raw in the body, a
string (marked, huge, with a lone surrogate, shaped like an e-mail address), an empty string, a list,
an object or a deeply nested object. A 400 leaves nothing written (no item in any table, idempotency
included, no queued message); a 200 leaves a record that PynamoDB and boto3 both read back. An answer is
at most 1 KB; neither it nor a log line at INFO or above carries the value, unless the value is a
validated id or event-type name shown as such. Tables and queue are emptied after each example.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from builders import signed
from clerk_sync.domain.names import is_clerk_id, is_event_type
from clerk_sync.domain.tables import TABLES
from clerk_sync_local.cli.send import SAMPLES_DIR, sample_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stacks import SYNCED, Stack

SAMPLES = {
    name: json.loads((SAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8")) for name in sample_types()
}
KEYS = {**{spec.template_id: spec.key_names for spec in TABLES.values()}, "IdempotencyTable": ("id",)}


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path below `value` (object keys and list indexes)."""
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found.append((*prefix, key))
        found.extend(paths(inner, (*prefix, key)))
    return found


TARGETS = [(name, path) for name, sample in SAMPLES.items() for path in paths(sample)]
DEEP = functools.reduce(lambda inner, _: {"k": inner}, range(40), {"k": 1})
MARK = "zqxj"  # every string the fuzz writes carries it, so an echo is found wherever it lands
MAX_ANSWER_BYTES = 1024

json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.sampled_from([10**38, 10**40, -(10**60), 2**200]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.sampled_from([1e38, 9.999999999999998e37, -1e38, 6.391608280039089e105, 1e-130, 1e-131, 1e125]),
    st.text(max_size=12).map(lambda text: MARK + text),
    st.sampled_from(
        [
            MARK + "x" * 3000,  # over a sort key's 1,024 bytes and a partition key's 2,048
            MARK + "y" * 500_000,  # over an item's 400 KB
            MARK + "\ud800",  # a lone surrogate
            f"ann.{MARK}@example.com",
            f"user_{MARK}",  # shaped like a Clerk id: may be stored and shown
            f"{MARK}.created",  # shaped like an event type: may be shown
        ]
    ),
    st.just(""),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5).map(lambda t: MARK + t)), max_size=3),
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(st.none(), st.integers(), st.text(max_size=5).map(lambda t: MARK + t)),
        max_size=3,
    ),
    st.just(DEEP),
)


def mutated(name: str, path: tuple[str | int, ...], value: object) -> bytes:
    payload = copy.deepcopy(SAMPLES[name])
    node: Any = payload
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return json.dumps(payload).encode()  # NaN and Infinity go in raw, as json.dumps writes them


def read_back_and_empty(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """Every synced item (read by boto3 and by the PynamoDB model), then empty the tables."""
    synced: list[tuple[str, dict[str, Any]]] = []
    for logical_id, keys in KEYS.items():
        for item in stack.items(logical_id):
            key = {name: item[name] for name in keys}
            if logical_id in SYNCED:
                model = stack.models.for_table(_TABLES[logical_id])
                record = model.get(*key.values())
                assert record.svix_id == item["svix_id"]
                synced.append((logical_id, item))
            stack.dynamodb.delete_item(
                TableName=stack.tables[logical_id], Key={k: {"S": v} for k, v in key.items()}
            )
    return synced


_TABLES = {spec.template_id: table for table, spec in TABLES.items()}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.sampled_from(TARGETS), value=json_values)
def test_any_field_of_any_sample_of_any_json_type_is_200_or_400(stack, capsys, target, value):
    name, path = target
    stack.calls.clear()
    capsys.readouterr()
    status, body = stack.deliver(signed(mutated(name, path, value)))
    assert status in (200, 400), (name, path, status, body)
    answer = json.dumps(body)
    assert len(answer.encode()) <= MAX_ANSWER_BYTES, (name, path, status)
    shown = isinstance(value, str) and value in (body.get("id"), body.get("type"))
    assert not shown or is_clerk_id(value) or is_event_type(value), (name, path, body)
    if not shown:
        assert MARK not in answer, (name, path, body)
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        if record.get("level") == "DEBUG":
            continue
        for field in ("entity_id", "type"):  # a validated id / type name, shown as such
            if isinstance(value, str) and record.get(field) == value:
                assert is_clerk_id(value) or is_event_type(value), (name, path, record)
                del record[field]
        assert MARK not in json.dumps(record), (name, path, record)
    if status == 400:
        assert set(body) == {"error"}
        # clean-up messages are delayed 5 s, so the queue's counts lag: no send at all is the proof
        assert stack.calls["sqs.SendMessage"] == 0, (name, path, body)
        assert not any(stack.items(t) for t in KEYS), (name, path, body)
        return
    synced = read_back_and_empty(stack)
    if body["status"] == "applied" and name not in ("email.created", "sms.created"):  # effects only
        assert len(synced) == 1, (name, path, body)
        assert synced[0][1]["id" if synced[0][0] != "MembershipsTable" else "user_id"]
