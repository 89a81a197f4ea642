"""Clerk's complete object (domain/complete.py): canonical, compressed, exact, without the deny-list; part
of every live write and of no tombstone; read back through `record.clerk` as a read-only mapping."""

from __future__ import annotations

import json
import zlib

import pytest
from builders import envelope, user
from clerk_sync.domain.complete import DENIED, DICTIONARIES, FDICT, ZDICT, allowed, compress, decompress
from clerk_sync.domain.envelope import parse_event
from clerk_sync.domain.event_types import changes_of
from clerk_sync.domain.tables import CLERK
from clerk_sync.domain.writes import InvalidEventError
from clerk_sync.read import User
from clerk_sync.read.records import ClerkObject
from clerk_sync_local.cli.dump import shown_item
from clerk_sync_local.cli.send import SAMPLES_DIR


def changes(event_type, data, timestamp=1_732_000_000_500):
    return changes_of(parse_event(json.dumps(envelope(event_type, data, timestamp)).encode(), "msg_1", 0))


def test_the_stored_form_is_zlib_of_canonical_json_with_the_preset_dictionary():
    stored = compress({"b": 1, "a": {"d": [1, 2.5], "c": "é"}})
    unpacker = zlib.decompressobj(zdict=ZDICT)
    assert unpacker.decompress(stored) + unpacker.flush() == b'{"a":{"c":"\\u00e9","d":[1,2.5]},"b":1}'
    assert stored[1] & FDICT and int.from_bytes(stored[2:6], "big") == zlib.adler32(ZDICT)
    assert compress({"a": {"c": "é", "d": [1, 2.5]}, "b": 1}) == stored  # key order does not matter
    with pytest.raises(zlib.error):
        zlib.decompress(stored)  # not readable without it


def test_objects_stored_before_the_dictionary_plain_zlib_stay_readable():
    data = {**user("user_1", 1_732_000_000_100), "two_factor_enabled": True}
    text = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")
    plain = zlib.compress(text, 9)
    assert not plain[1] & FDICT
    assert decompress(plain) == data == decompress(compress(data))
    assert User.from_item({"id": "user_1", "version": 5, CLERK: plain}).clerk["two_factor_enabled"] is True


def test_a_stream_naming_an_unknown_dictionary_is_refused_not_misread():
    packer = zlib.compressobj(9, zdict=b'{"another":"dictionary"}')
    with pytest.raises(ValueError, match="unknown zlib dictionary"):
        decompress(packer.compress(b'{"another":1}') + packer.flush())


def test_the_dictionary_is_a_deterministic_constant_of_a_few_kb_of_clerk_shapes():
    assert 2_000 < len(ZDICT) <= 8_192 and ZDICT.isascii()
    assert dict(DICTIONARIES) == {zlib.adler32(ZDICT): ZDICT}
    for fragment in (b'"object":"user"', b'"email_address":', b'"verification":{', b'"public_metadata":{}'):
        assert fragment in ZDICT
    assert ZDICT.endswith(b'"web3_wallets":[]')  # the user, most frequent, last (closest)
    # records in tables name this dictionary: a change must keep it in DICTIONARIES beside the new one
    assert zlib.adler32(ZDICT) == 2_475_925_455


@pytest.mark.parametrize("event_type", ["user.updated", "session.created", "subscriptionItem.active"])
def test_the_dictionary_shrinks_a_samples_object_by_at_least_a_third(event_type):
    data = json.loads((SAMPLES_DIR / f"{event_type}.json").read_bytes())["data"]
    assert decompress(compress(data)) == allowed(data)
    text = json.dumps(allowed(data), sort_keys=True, separators=(",", ":")).encode("ascii")
    assert len(compress(data)) < len(zlib.compress(text, 9)) * 2 / 3


def test_numbers_and_strings_come_back_exactly_as_parsed():
    body = b'{"big": 123456789012345678901234567890123456789012, "f": 0.1, "e": 1e-300, "s": "\\ud800x"}'
    parsed = json.loads(body)
    assert decompress(compress(parsed)) == parsed
    assert type(decompress(compress({"one": 1.0}))["one"]) is float


def test_denied_keys_are_removed_at_any_depth_but_inside_metadata():
    obj = {
        "id": "orginv_1",
        "url": "https://accounts.example.com/sign-up?__clerk_ticket=secret",
        "latest_activity": {"ip_address": "203.0.113.9"},
        "invitation": {"id": "inv_1", "url": "https://x/?ticket=1", "status": "pending"},
        "verifications": [{"nonce": "n", "status": "verified", "token": "t"}],
        "public_metadata": {"url": "https://app.example.com/mine"},
    }
    assert decompress(compress(obj)) == {
        "id": "orginv_1",
        "invitation": {"id": "inv_1", "status": "pending"},
        "verifications": [{"status": "verified"}],
        "public_metadata": {"url": "https://app.example.com/mine"},
    }
    assert {"url", "latest_activity", "ip_address", "user_agent", "ticket", "token"} <= DENIED


def test_a_live_write_holds_the_complete_object_and_a_tombstone_none():
    data = {**user("user_1", 1_732_000_000_100), "two_factor_enabled": True, "future_2027": {"x": [1]}}
    write = changes("user.updated", data).write
    assert write is not None and decompress(write.item[CLERK]) == data
    assert write.sources[CLERK] == "data"
    gone = changes("user.deleted", {"id": "user_1", "object": "user", "deleted": True}).write
    assert gone is not None and gone.tombstone and CLERK not in gone.item


def test_a_record_decodes_its_complete_object_on_first_use_as_a_read_only_mapping():
    data = {**user("user_1", 1_732_000_000_100), "two_factor_enabled": True, "list": [{"a": 1}]}
    stored = compress(data)
    record = User.from_item({"id": "user_1", "version": 5, CLERK: stored})
    assert isinstance(record.clerk, ClerkObject) and record.clerk._decoded is None
    assert repr(record.clerk) == f"ClerkObject({len(stored)} bytes compressed)"  # never its content
    assert record.clerk["two_factor_enabled"] is True and record.clerk["list"] == ({"a": 1},)
    assert dict(record.clerk).keys() == data.keys()
    with pytest.raises(TypeError):
        record.clerk["list"][0]["a"] = 2  # type: ignore[index]
    assert User.from_item({"id": "user_1", "version": 5}).clerk == {}  # written with the switch off


def test_clerk_sync_dump_shows_the_complete_object_decompressed():
    data = {"id": "user_1", "two_factor_enabled": True}
    shown = shown_item({"id": {"S": "user_1"}, "version": {"N": "5"}, CLERK: {"B": compress(data)}})
    assert shown == {"id": "user_1", "version": 5, CLERK: data}
    assert json.loads(json.dumps(shown)) == shown


def test_an_object_nested_deeper_than_can_be_encoded_is_refused_not_retried():
    body = json.dumps(envelope("user.updated", user("user_1", 1_732_000_000_100), 1)).encode()
    nested = b"[" * 5_000 + b"]" * 5_000
    body = body.replace(b'"object": "user"', b'"object": "user", "deep": ' + nested, 1)
    with pytest.raises(InvalidEventError, match="nested too deeply"):
        changes_of(parse_event(body, "msg_1", 0))
