"""Stream records as Lambda hands them to ChangesFunction: JSON, so binary attributes (the complete object)
are base64 text, at any depth; records built from boto3's answers (bytes) read the same."""

from __future__ import annotations

import base64
import zlib

import pytest
from clerk_sync.adapters.dynamodb.streams import UnreadableRecordError, read_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/clerk-sync-users/stream/2026-12-08T00:00:00.000"
CLERK = zlib.compress(b'{"id": "user_1"}')


def record(new_image: dict[str, object]) -> dict[str, object]:
    return {
        "eventSourceARN": ARN,
        "dynamodb": {
            "SequenceNumber": "100",
            "ApproximateCreationDateTime": 1765000000,
            "NewImage": new_image,
        },
    }


def test_binary_attributes_as_lambda_sends_them_are_read_as_bytes():
    text = base64.b64encode(CLERK).decode()
    image = {
        "id": {"S": "user_1"},
        "version": {"N": "5"},
        "clerk": {"B": text},
        "nested": {"M": {"set": {"BS": [text]}, "list": {"L": [{"B": text}, {"S": "x"}]}}},
    }
    written = read_record(record(image))
    assert written.table_name == "clerk-sync-users" and written.written_at == 1765000000.0
    assert written.new is not None and bytes(written.new["clerk"]) == CLERK
    assert {bytes(b) for b in written.new["nested"]["set"]} == {CLERK}
    assert bytes(written.new["nested"]["list"][0]) == CLERK and written.new["nested"]["list"][1] == "x"


def test_bytes_are_still_read_as_they_are():
    written = read_record(record({"id": {"S": "user_1"}, "clerk": {"B": CLERK}}))
    assert written.new is not None and bytes(written.new["clerk"]) == CLERK


@pytest.mark.parametrize("image", [{"clerk": {"B": "not base64!"}}, {"id": {"Q": "?"}}])
def test_an_unreadable_image_is_an_unreadable_record(image: dict[str, object]):
    with pytest.raises(UnreadableRecordError):
        read_record(record(image))
