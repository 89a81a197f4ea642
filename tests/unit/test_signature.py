"""Svix signature verification: the published vector, the behaviour matrix, and a differential test.

The differential test holds `clerk_sync.domain.signature` to accept and reject exactly what
`svix.webhooks.Webhook(secret).verify` does (accepted iff at least one configured secret's svix
Webhook accepts), with svix's clock frozen at the same `now` that we pass to `verify`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.metadata
import math
from datetime import UTC, datetime
from unittest import mock

import pytest
import standardwebhooks.webhooks as std_webhooks
from clerk_sync.domain.signature import (
    MissingHeadersError,
    SignatureError,
    SvixHeaders,
    read_headers,
    sign,
    verify,
)
from clerk_sync.settings import parse_signing_secrets
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from svix.webhooks import Webhook

VECTOR_SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"
VECTOR_ID = "msg_loFOjxBNrRLzqYUf"
VECTOR_TS = 1731705121
VECTOR_BODY = b'{"event_type":"ping","data":{"success":true}}'
VECTOR_SIG = "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0="

SECRET_A = "whsec_" + base64.b64encode(b"first secret key for tests!!").decode()
SECRET_B = "whsec_" + base64.b64encode(b"second (rotated) secret key").decode()
SECRET_C = "whsec_" + base64.b64encode(b"a secret nobody configured").decode()
KEY_A, KEY_B, KEY_C = parse_signing_secrets(f"{SECRET_A} {SECRET_B} {SECRET_C}")

NOW = 1_750_000_000
BODY = b'{"type":"user.created","data":{"id":"user_1","first_name":"J\xc3\xb6rg"}}'
MSG_ID = "msg_2abcDEF"


def _key(secret: str) -> bytes:
    return parse_signing_secrets(secret)[0]


def _headers(msg_id: str = MSG_ID, ts: object = NOW, sig: str | None = None, body: bytes = BODY) -> dict:
    if sig is None:
        sig = sign(KEY_A, msg_id, int(str(ts)), body)
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sig}


def _check(headers: dict, body: bytes = BODY, keys: tuple[bytes, ...] = (KEY_A,), now: float = NOW) -> int:
    return verify(keys, read_headers(headers), body, now=now)


class _FrozenDatetime(datetime):
    """`datetime` whose now() is pinned, so that svix's tolerance check is deterministic."""

    frozen: datetime = datetime.fromtimestamp(NOW, tz=UTC)

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return cls.frozen if tz is None else cls.frozen.astimezone(tz)


def _frozen_svix(now: float):
    _FrozenDatetime.frozen = datetime.fromtimestamp(now, tz=UTC)
    return mock.patch.object(std_webhooks, "datetime", _FrozenDatetime)


def _svix_accepts(secret: str, headers: dict, body: bytes) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Published vector


def test_published_vector():
    keys = parse_signing_secrets(VECTOR_SECRET)
    assert sign(keys[0], VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    headers = read_headers(
        {"svix-id": VECTOR_ID, "svix-timestamp": str(VECTOR_TS), "svix-signature": VECTOR_SIG}
    )
    assert verify(keys, headers, VECTOR_BODY, now=VECTOR_TS) == VECTOR_TS


def test_published_vector_agrees_with_svix():
    headers = {"svix-id": VECTOR_ID, "svix-timestamp": str(VECTOR_TS), "svix-signature": VECTOR_SIG}
    with _frozen_svix(VECTOR_TS):
        assert _svix_accepts(VECTOR_SECRET, headers, VECTOR_BODY)
    with _frozen_svix(VECTOR_TS + 301):
        assert not _svix_accepts(VECTOR_SECRET, headers, VECTOR_BODY)


def test_published_vector_is_too_old_today():
    headers = read_headers(
        {"svix-id": VECTOR_ID, "svix-timestamp": str(VECTOR_TS), "svix-signature": VECTOR_SIG}
    )
    with pytest.raises(SignatureError):
        verify(parse_signing_secrets(VECTOR_SECRET), headers, VECTOR_BODY)  # now = real time


# --------------------------------------------------------------------------------------------------
# Secret rotation and signature header entries


def test_good_signature_accepted():
    assert _check(_headers()) == NOW


@pytest.mark.parametrize("signing_key", [KEY_A, KEY_B])
def test_rotation_either_secret_accepted(signing_key):
    sig = sign(signing_key, MSG_ID, NOW, BODY)
    assert _check(_headers(sig=sig), keys=(KEY_A, KEY_B)) == NOW


def test_wrong_secret_rejected():
    sig = sign(KEY_C, MSG_ID, NOW, BODY)
    with pytest.raises(SignatureError):
        _check(_headers(sig=sig), keys=(KEY_A, KEY_B))


def test_several_entries_only_one_valid():
    good = sign(KEY_B, MSG_ID, NOW, BODY)
    bad1 = sign(KEY_C, MSG_ID, NOW, BODY)
    bad2 = sign(KEY_A, MSG_ID, NOW + 1, BODY)
    for sig in (f"{bad1} {bad2} {good}", f"{good} {bad1}", f"{bad1} {good} {bad2}"):
        assert _check(_headers(sig=sig), keys=(KEY_A, KEY_B)) == NOW


def test_v1a_entries_ignored():
    good = sign(KEY_A, MSG_ID, NOW, BODY)
    v1a = "v1a," + base64.b64encode(b"\x01" * 64).decode()
    assert _check(_headers(sig=f"{v1a} {good}")) == NOW
    # a v1a entry carrying the right HMAC is still not a v1 signature
    with pytest.raises(SignatureError):
        _check(_headers(sig="v1a," + good.split(",", 1)[1]))


@pytest.mark.parametrize("sig", ["v1a,AAAA", "v2,AAAA v1a,BBBB", "V1," + "A" * 44])
def test_unknown_schemes_only_rejected(sig):
    with pytest.raises(SignatureError):
        _check(_headers(sig=sig))


@pytest.mark.parametrize(
    "sig",
    [
        "v1",  # no comma
        "v1" + "A" * 44,
        "v1,a,b",  # two commas
        "v1,abc",  # incorrect base64 padding
        "v1,A",
        "v1,é",  # not ASCII
        "  ",  # only separators
        "v1,AAAA  v1,AAAA",  # empty entry between two spaces
    ],
)
def test_malformed_signature_header_is_signature_error(sig):
    with pytest.raises(SignatureError):
        _check(_headers(sig=sig))


def test_malformed_entry_beside_a_good_one_is_ignored_like_svix():
    # Standard Webhooks: any entry may match; one that cannot (malformed, another scheme) is skipped
    good = sign(KEY_A, MSG_ID, NOW, BODY)
    for sig in (f"garbage {good}", f"{good} garbage", f"v1 v1,AAAA,B {good}", f"v1,abc {good} ,"):
        headers = _headers(sig=sig)
        assert _check(headers) == NOW
        with _frozen_svix(NOW):
            assert _svix_accepts(SECRET_A, headers, BODY)


def test_unencodable_entry_ends_the_check_like_svix():
    # the reference encodes entries one at a time: a lone surrogate before the match rejects...
    good = sign(KEY_A, MSG_ID, NOW, BODY)
    headers = _headers(sig=f"v1,\ud800 {good}")
    with pytest.raises(SignatureError):
        _check(headers)
    with _frozen_svix(NOW):
        assert not _svix_accepts(SECRET_A, headers, BODY)
    # ...while it stops at the first match, so one after it does not matter
    assert _check(_headers(sig=f"{good} v1,\ud800")) == NOW


def test_only_canonical_base64_matches_like_svix():
    # the entry is compared as a string with `v1,<standard base64>`: no lenient decoding
    good = sign(KEY_A, MSG_ID, NOW, BODY)
    scheme, encoded = good.split(",")
    for sig in (f"{scheme},{encoded[:10]}!\n{encoded[10:]}", f"{scheme},{encoded.rstrip('=')}", good + "\n"):
        headers = _headers(sig=sig)
        with pytest.raises(SignatureError):
            _check(headers)
        with _frozen_svix(NOW):
            assert not _svix_accepts(SECRET_A, headers, BODY)


# --------------------------------------------------------------------------------------------------
# Timestamp tolerance


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_timestamp_within_tolerance_accepted(offset):
    assert _check(_headers(ts=NOW + offset)) == NOW + offset


@pytest.mark.parametrize("offset", [-301, 301, -100_000, 100_000])
def test_timestamp_outside_tolerance_rejected(offset):
    with pytest.raises(SignatureError):
        _check(_headers(ts=NOW + offset))


@pytest.mark.parametrize("offset", [-301, -300, 300, 301])
def test_tolerance_boundaries_agree_with_svix(offset):
    headers = _headers(ts=NOW + offset)
    with _frozen_svix(NOW):
        assert _svix_accepts(SECRET_A, headers, BODY) == (abs(offset) <= 300)


@pytest.mark.parametrize("raw", ["", "abc", "nan", "inf", "-inf", "1e400", "9" * 40, "0x10", "17 50"])
def test_invalid_timestamp_rejected(raw):
    headers = _headers(sig=sign(KEY_A, MSG_ID, NOW, BODY))
    headers["svix-timestamp"] = raw
    with pytest.raises((SignatureError, MissingHeadersError)):
        _check(headers)


def test_fractional_timestamp_is_floored_for_signing():
    sig = sign(KEY_A, MSG_ID, NOW, BODY)
    assert _check(_headers(ts=f" {NOW}.75\n", sig=sig)) == NOW


# --------------------------------------------------------------------------------------------------
# Headers


@pytest.mark.parametrize("name", ["svix-id", "svix-timestamp", "svix-signature"])
@pytest.mark.parametrize("value", [None, ""])
def test_missing_or_empty_header(name, value):
    headers = _headers()
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    with pytest.raises(MissingHeadersError, match=name):
        read_headers(headers)


def test_no_headers_at_all():
    with pytest.raises(MissingHeadersError):
        read_headers({"content-type": "application/json"})


def test_mixed_case_header_names():
    h = _headers()
    mixed = {
        "Svix-Id": h["svix-id"],
        "SVIX-TIMESTAMP": h["svix-timestamp"],
        "sViX-sIgNaTuRe": h["svix-signature"],
    }
    assert read_headers(mixed) == SvixHeaders(MSG_ID, str(NOW), h["svix-signature"])
    assert _check(mixed) == NOW


def test_standard_webhooks_header_names_fallback():
    h = _headers()
    std = {
        "Webhook-Id": h["svix-id"],
        "webhook-timestamp": h["svix-timestamp"],
        "webhook-signature": h["svix-signature"],
    }
    assert _check(std) == NOW
    # svix-* wins over webhook-*, even when empty
    with pytest.raises(MissingHeadersError):
        read_headers({**std, "svix-id": ""})


# --------------------------------------------------------------------------------------------------
# Mutations


def test_mutated_body_rejected():
    with pytest.raises(SignatureError):
        _check(_headers(), body=BODY.replace(b"user_1", b"user_2"))


def test_body_with_trailing_newline_rejected():
    with pytest.raises(SignatureError):
        _check(_headers(), body=BODY + b"\n")


def test_mutated_id_rejected():
    headers = _headers()
    headers["svix-id"] = MSG_ID + "x"
    with pytest.raises(SignatureError):
        _check(headers)


def test_mutated_timestamp_rejected():
    headers = _headers()
    headers["svix-timestamp"] = str(NOW + 1)
    with pytest.raises(SignatureError):
        _check(headers)


def test_signature_covers_the_raw_bytes_even_when_not_utf8():
    # the bytes are what is signed; whether they are UTF-8 is the payload's question (400), not ours
    body = b'{"a":"\xff\xfe"}'
    headers = _headers(sig=sign(KEY_A, MSG_ID, NOW, body), body=body)
    assert _check(headers, body=body) == NOW
    with _frozen_svix(NOW):
        assert _svix_accepts(SECRET_A, headers, body)
    with pytest.raises(SignatureError):
        _check(headers, body=body + b"\xff")


def test_reference_is_the_locked_version():
    # the differential test below is only as good as the reference it ran against: the locked one
    from locks import locked_version

    assert importlib.metadata.version("standardwebhooks") == locked_version("standardwebhooks")
    assert importlib.metadata.version("svix") == locked_version("svix")


def test_unencodable_msg_id_is_signature_error():
    headers = _headers(sig=sign(KEY_A, "msg_1", NOW, BODY))
    headers["svix-id"] = "msg_\ud800"
    with pytest.raises(SignatureError):
        _check(headers)
    with _frozen_svix(NOW):
        assert not _svix_accepts(SECRET_A, headers, BODY)


# --------------------------------------------------------------------------------------------------
# Differential test against svix
#
# Most generated deliveries have all three headers, a UTF-8 body and a timestamp near `now`, so that
# the signature logic itself is exercised (about a third of the examples are accepted); the rest
# probe missing headers, odd timestamps and non-UTF-8 bodies.

_SECRET_BYTES = st.binary(min_size=1, max_size=40)
_NOWS = st.sampled_from([NOW, NOW, NOW + 0.5, 1_731_705_121.999999, 86_400, 4_102_444_800, 0, 100.5, -1000])
_ID_CHARS = st.characters(codec="ascii", exclude_characters=" ")


def _b64_secret(raw: bytes, unpadded: bool) -> str:
    encoded = base64.b64encode(raw).decode()
    return "whsec_" + (encoded.rstrip("=") if unpadded else encoded)


@st.composite
def _timestamps(draw, now: float, clean: bool) -> str:
    base = math.floor(now)
    kind = draw(st.sampled_from([0, 1, 2, 3, 10]) if clean else st.integers(0, 10))
    if kind <= 2:
        return str(base + draw(st.integers(-302, 302)))
    if kind == 3:  # the edges of the tolerance
        return str(base + draw(st.sampled_from([-300, 300, -301, 301, -299, 299])))
    if kind <= 5:
        return repr(now + draw(st.floats(-302, 302, allow_nan=False)))
    if kind == 10:  # fractions: floored for signing, after datetime.fromtimestamp rounds to microseconds
        whole = base + draw(st.integers(-302, 302))
        fraction = draw(st.sampled_from(["9999995", "9999996", "9999999", "0000005", "4999995", "5", "25"]))
        return f"{whole}.{fraction}"
    if kind == 6:
        stem = str(base + draw(st.sampled_from([-301, -300, 0, 300, 301])))
        return draw(
            st.sampled_from(
                [
                    f" {stem} ",
                    f"{stem}\n",
                    f"+{stem}",
                    f"{stem}.0",
                    f"{stem}.9999999",  # rounds up to the next second in datetime.fromtimestamp
                    f"{stem}.4999995",
                    f"{int(stem) - 1}.9999996",
                    f"{int(stem):_}",
                    f"{float(stem):e}",
                    f"{stem}e0",
                    f"0{stem}",
                    f"{stem}.",
                    "".join(
                        chr(0x0660 + int(c)) if c.isdigit() else c for c in stem
                    ),  # Arabic-Indic digits: float() takes them
                ]
            )
        )
    if kind == 7:
        return draw(
            st.sampled_from(
                [
                    "nan",
                    "NaN",
                    "inf",
                    "-inf",
                    "infinity",
                    "-1",
                    "-0",
                    "0",
                    "1e400",
                    "-1e400",
                    "9" * 30,
                    "1e18",
                    "-62135596801",
                    "253402300800",
                    "",
                    " ",
                    "0x10",
                    "1 2",
                    "١",
                    "\ud800",
                    "1\x00",
                ]
            )
        )
    if kind == 8:
        return str(draw(st.integers(-(10**20), 10**20)))
    return draw(st.text(max_size=25))


@st.composite
def _bodies(draw, clean: bool) -> bytes:
    kind = draw(st.integers(0, 6 if clean else 9))
    if kind <= 4:
        return draw(st.text(max_size=60)).encode()
    if kind <= 6:
        return draw(st.sampled_from([b"", BODY, VECTOR_BODY, "\ufeff{}".encode(), b"\x00", b"{}\r\n"]))
    if kind == 7:
        return draw(st.binary(max_size=60))
    good = draw(st.text(max_size=30)).encode()
    bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]))
    return good + bad


def _hmac_b64(key: bytes, msg_id: str, ts: str, body: bytes) -> str:
    signed = f"{msg_id}.{ts}.".encode("utf-8", "surrogatepass") + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _signed_ts(raw: str) -> str:
    """The timestamp text svix signs (computed independently of the code under test), else the raw text."""
    try:
        return str(math.floor(datetime.fromtimestamp(float(raw), tz=UTC).timestamp()))
    except Exception:
        return raw


@st.composite
def _entry(draw, keys: list[bytes], msg_id: str, ts: str, body: bytes) -> str:
    # (Hypothesis draws 0 far more often than other integers: 0 is always the common case here.)
    key = draw(_SECRET_BYTES) if draw(st.integers(0, 3)) == 3 else draw(st.sampled_from(keys))
    ts_text = draw(st.sampled_from([ts, str(NOW), "0"])) if draw(st.integers(0, 5)) == 5 else _signed_ts(ts)
    correct = _hmac_b64(key, msg_id, ts_text, body)
    kind = draw(st.integers(0, 16))
    if kind <= 3:
        return "v1," + correct
    if kind <= 6:  # one character changed
        i = draw(st.integers(0, len(correct) - 2))
        return "v1," + correct[:i] + draw(st.sampled_from("AB+/a9")) + correct[i + 1 :]
    if kind == 7:  # padding and length games, noise that non-strict base64 skips, non-ASCII
        return "v1," + draw(
            st.sampled_from(
                [
                    correct.rstrip("="),
                    correct + "=",
                    correct + "==",
                    correct[:-4],
                    correct + "AAAA",
                    correct[:8] + "!" + correct[8:],
                    correct[:8] + "\t" + correct[8:],
                    correct[:8] + "é" + correct[8:],
                    correct.replace("+", "-").replace("/", "_"),
                ]
            )
        )
    if kind == 8:
        return draw(st.sampled_from(["v1a,", "v2,", "V1,", "v1 ,", " v1,"])) + correct
    if kind == 16:  # whitespace that is not a separator around the scheme: not "v1"
        return draw(st.sampled_from(["\tv1,", "v1\t,", "\nv1,", "v1\n,", "\rv1,", "\xa0v1,"])) + correct
    if kind == 9:  # no comma, or more than one
        return draw(st.sampled_from(["v1" + correct, correct, "v1,," + correct, "v1," + correct + ",", ""]))
    if kind <= 11:
        return "v1," + base64.b64encode(draw(st.binary(max_size=40))).decode()
    if kind == 12:
        return "v1a," + base64.b64encode(draw(st.binary(min_size=64, max_size=64))).decode()
    if kind == 13:
        return draw(st.text(max_size=20))
    return "v1," + correct


@st.composite
def _signature_header(draw, keys: list[bytes], msg_id: str, ts: str, body: bytes) -> str:
    header = draw(_entry(keys, msg_id, ts, body))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        sep = draw(st.sampled_from([" ", " ", " ", " ", " ", " ", "  ", ",", "\t"]))
        header += sep + draw(_entry(keys, msg_id, ts, body))
    edges = draw(st.sampled_from([("", ""), ("", ""), ("", ""), (" ", ""), ("", " ")]))
    return edges[0] + header + edges[1]


_NAME_CASES = [0, 0, 0, -1, 0b1000001, 0b1010101010101]  # bit i set: upper-case character i


def _cased(name: str, flips: int) -> str:
    return "".join(c.upper() if flips >> i & 1 else c for i, c in enumerate(name))


@st.composite
def _cases(draw):
    raw_keys = draw(st.lists(_SECRET_BYTES, min_size=1, max_size=3))
    secrets = [_b64_secret(k, draw(st.booleans())) for k in raw_keys]
    now = draw(_NOWS)
    # A "clean" delivery varies only the signature header (and secrets, id, timestamp within the
    # tolerance, UTF-8 body), so that the signature matching logic gets half of the examples.
    clean = draw(st.booleans())
    if not clean and draw(st.integers(0, 4)) == 4:
        msg_id = draw(
            st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["msg_\ud800x", " msg_1 "]))
        )
    else:
        msg_id = "msg_" + draw(st.text(_ID_CHARS, max_size=12))
    ts = draw(_timestamps(now, clean))
    body = draw(_bodies(clean))
    sig = draw(_signature_header(raw_keys, msg_id, ts, body))

    flips = draw(st.sampled_from(_NAME_CASES))
    headers: dict[str, str] = {}
    for field, value in (("id", msg_id), ("timestamp", ts), ("signature", sig)):
        where = 0 if clean else draw(st.integers(0, 39))
        if where <= 35:  # svix-* name
            headers[_cased(f"svix-{field}", flips)] = value
        elif where == 36:  # Standard Webhooks name only
            headers[_cased(f"webhook-{field}", flips)] = value
        elif where == 37:  # both: svix-* wins
            headers[f"webhook-{field}"] = draw(st.sampled_from(["", "junk", value]))
            headers[_cased(f"svix-{field}", flips)] = value
        elif where == 38:  # empty svix-* hides a good webhook-*
            headers[f"svix-{field}"] = ""
            headers[f"webhook-{field}"] = value
        else:  # absent
            pass
        # the same header twice in different case: the last one wins
        if not clean and draw(st.integers(0, 39)) == 39:
            headers[f"SVIX-{field.upper()}"] = draw(st.sampled_from([value, ""]))
    if draw(st.booleans()):
        headers["content-type"] = "application/json"
    return secrets, now, headers, body


def _svix_lookup(headers: dict, field: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(f"svix-{field}", lowered.get(f"webhook-{field}", ""))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
@given(_cases())
def test_differential_against_svix(case):
    secrets, now, headers, body = case
    keys = parse_signing_secrets(",".join(secrets))
    assert keys == tuple(Webhook(s)._inner._whsecret for s in secrets)

    with _frozen_svix(now):
        svix_accepts = any(_svix_accepts(s, headers, body) for s in secrets)
    event("svix accepts" if svix_accepts else "svix rejects")

    missing = not all(_svix_lookup(headers, f) for f in ("id", "timestamp", "signature"))
    try:
        parsed = read_headers(headers)
    except MissingHeadersError:
        event("rejected: missing header")
        assert missing
        assert not svix_accepts
        return
    assert not missing
    try:
        timestamp = verify(keys, parsed, body, now=now)
    except SignatureError as exc:
        event(f"rejected: {exc}")
        assert not svix_accepts
        return
    assert svix_accepts
    assert timestamp == int(_signed_ts(parsed.timestamp))
