"""Bad input: malformed, truncated, oversized, wrongly encoded and forged requests.

Whatever arrives, the receiver answers 4xx, never 5xx; makes no AWS call (so writes nothing); and never
accepts an event that was not signed with a configured secret.
"""

from __future__ import annotations

import base64
import json
import time

from builders import OTHER_KEY, SECRET_KEY, envelope, lambda_event, user
from clerk_sync.domain.signature import sign
from clerk_sync_local.stack.context import LocalContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID = json.dumps(envelope("user.created", user("user_fuzz", 1_732_000_000_001))).encode()
NOW = int(time.time())

header_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", " ", "v1", "v1,", "v1,=", "v1a,AAAA", "msg_1", "1e10", "nan", "-1", str(NOW)]),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.integers(0, len(VALID) - 1).map(lambda n: VALID[:n]),  # truncated (the whole body is valid)
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"\xff\xfe" + VALID),  # wrongly encoded
    st.just(VALID.decode().encode("utf-16")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
)


@st.composite
def forged_requests(draw: st.DrawFn) -> dict:
    """A request that must be refused: no valid signature by a configured key over this exact body."""
    body = draw(bodies)
    msg_id = draw(st.one_of(st.just("msg_fuzz"), header_values))
    stamp = draw(st.one_of(st.just(NOW), st.integers(-(2**40), 2**40)))
    kind = draw(
        st.sampled_from(["wrong-key", "other-body", "garbage", "missing", "stale", "signed-malformed"])
    )
    headers: dict[str, str] = {"svix-id": msg_id, "svix-timestamp": str(stamp)}
    if kind == "wrong-key":
        headers["svix-signature"] = sign(OTHER_KEY, msg_id, stamp, body)
    elif kind == "other-body":
        headers["svix-signature"] = sign(SECRET_KEY, msg_id, stamp, body + b" ")
    elif kind == "garbage":
        headers["svix-signature"] = draw(header_values)
    elif kind == "missing":
        headers.pop(draw(st.sampled_from(["svix-id", "svix-timestamp"])))
        headers["svix-signature"] = sign(SECRET_KEY, msg_id, stamp, body)
    elif kind == "stale":
        stamp = NOW - draw(st.integers(301, 10**6)) * draw(st.sampled_from([1, -1]))
        headers["svix-timestamp"] = str(stamp)
        headers["svix-signature"] = sign(SECRET_KEY, msg_id, stamp, body)
    else:  # correctly signed, but a body that is not a usable event
        headers = {
            "svix-id": "msg_fuzz",
            "svix-timestamp": str(NOW),
            "svix-signature": sign(SECRET_KEY, "msg_fuzz", NOW, body),
        }
    headers = {draw(st.sampled_from([k, k.upper(), k.title()])): v for k, v in headers.items()}
    event = lambda_event(
        b"",
        headers,
        method=draw(st.sampled_from(["POST", "POST", "GET", "DELETE"])),
        path=draw(st.sampled_from(["/webhooks/clerk", "/webhooks/clerk", "/", "/webhooks"])),
    )
    encoding = draw(st.sampled_from(["plain", "base64", "bad-base64", "none"]))
    if encoding == "plain":
        event["body"] = body.decode("utf-8", "surrogateescape")
    elif encoding == "base64":
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    elif encoding == "bad-base64":
        event["body"], event["isBase64Encoded"] = "!!" + base64.b64encode(body).decode(), True
    else:
        event["body"] = None
    return {"event": event, "kind": kind, "body": body}


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=forged_requests())
def test_forged_and_malformed_requests_are_refused_without_writes(stack, request):
    stack.calls.clear()
    response = stack.receiver.handle(request["event"], LocalContext("WebhookFunction"))
    status = response["statusCode"]
    assert 400 <= status < 500, (status, response["body"], request["kind"])
    assert set(json.loads(response["body"])) == {"error"}
    assert sum(stack.calls.values()) == 0, dict(stack.calls)


def test_oversized_requests_are_refused_without_writes(stack):
    big = json.dumps(
        {**envelope("user.created", user("user_big", 1)), "pad": "x" * (2 * 1024 * 1024)}
    ).encode()
    for base64_body in (False, True):
        event = lambda_event(
            big,
            {
                "svix-id": "msg_big",
                "svix-timestamp": str(NOW),
                "svix-signature": sign(SECRET_KEY, "msg_big", NOW, big),
            },
            base64_body=base64_body,
        )
        assert stack.receiver.handle(event, LocalContext("WebhookFunction"))["statusCode"] == 413
    assert stack.nothing_written()


def test_after_the_fuzz_nothing_was_written(stack):
    for kind in ("wrong-key", "other-body"):
        body = VALID
        key, signed_body = (OTHER_KEY, body) if kind == "wrong-key" else (SECRET_KEY, body + b"x")
        event = lambda_event(
            body,
            {
                "svix-id": "msg_f",
                "svix-timestamp": str(NOW),
                "svix-signature": sign(key, "msg_f", NOW, signed_body),
            },
        )
        assert stack.receiver.handle(event, LocalContext("WebhookFunction"))["statusCode"] == 401
    assert stack.nothing_written()
