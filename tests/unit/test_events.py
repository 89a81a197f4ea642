"""Envelope parsing and timestamp normalisation."""

import json

import pytest
from clerk_sync.domain.envelope import MalformedEventError, parse_event, to_millis


def test_millisecond_and_second_timestamps_normalise_to_ms():
    assert to_millis(1_732_000_000_123) == 1_732_000_000_123
    assert to_millis(1_732_000_000) == 1_732_000_000_000
    assert to_millis(1_732_000_000.5) == 1_732_000_000_500


@pytest.mark.parametrize("value", [None, "1732000000", True, float("nan"), float("inf"), [1]])
def test_non_numbers_are_not_timestamps(value):
    assert to_millis(value) is None


def test_envelope_timestamp_wins_over_svix_timestamp():
    body = json.dumps({"type": "user.deleted", "data": {"id": "u"}, "timestamp": 1_732_000_000_999}).encode()
    assert parse_event(body, "msg_1", 1_700_000_000).occurred_at == 1_732_000_000_999


def test_missing_envelope_timestamp_falls_back_to_svix_time():
    body = json.dumps({"type": "user.deleted", "data": {"id": "u"}}).encode()
    event = parse_event(body, "msg_1", 1_700_000_000)
    assert (event.occurred_at, event.svix_id, event.type) == (1_700_000_000_000, "msg_1", "user.deleted")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"x"',
        b"{}",
        b'{"type": 3, "data": {}}',
        b'{"type": "", "data": {}}',
        b'{"type": "user.created"}',
        b'{"type": "user.created", "data": []}',
        b"[" * 100_000,
    ],
)
def test_bodies_that_are_not_envelopes_are_rejected(body):
    with pytest.raises(MalformedEventError):
        parse_event(body, "msg_1", 1)
