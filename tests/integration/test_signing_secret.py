"""Signing keys from AWS Secrets Manager (moto over a real socket): caching, rotation, bad secrets."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from builders import OTHER_KEY, OTHER_SECRET, SECRET, SECRET_KEY, answer, envelope, fresh_id, signed, user
from clerk_sync.adapters.aws_clients import Endpoints
from clerk_sync.adapters.http import HttpEdge
from clerk_sync.bootstrap.receiver import build_receiver
from clerk_sync.settings import SECRET_ARN_ENV, SECRET_ENV, ConfigError, load_config
from clerk_sync_local.stack.context import LocalContext
from clerk_sync_local.stack.provision import ResourceNames, provision
from stacks import environment

REGION = "us-east-1"

WINDOW = 1  # seconds a receiver caches the secret in these tests (300 in production)


class Deployment:
    """Fresh tables, a queue and a secret on moto; receivers built the way the Lambda builds them."""

    def __init__(self, moto_endpoint: str, name: str) -> None:
        prefix = f"{name[:30]}-{uuid.uuid4().hex[:8]}-".replace("[", "-").replace("]", "-")
        self.provisioned = provision(
            dynamodb_endpoint=moto_endpoint,
            sqs_endpoint=moto_endpoint,
            names=ResourceNames.from_env({}).prefixed(re.sub(r"[^A-Za-z0-9_-]+", "-", prefix)),
            region=REGION,
        )
        self.secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
        self.endpoints = Endpoints(
            dynamodb=moto_endpoint, sqs=moto_endpoint, secretsmanager=moto_endpoint, region=REGION
        )
        self.calls: Counter[str] = Counter()
        self.secret_arn = self.secrets.create_secret(
            Name=f"clerk-sync-test-{uuid.uuid4().hex[:8]}", Description="test"
        )["ARN"]

    def put(self, value: str) -> None:
        self.secrets.put_secret_value(SecretId=self.secret_arn, SecretString=value)

    def env(self) -> dict[str, str]:
        env = environment(dict(self.provisioned.tables), self.provisioned.queue_url)
        del env[SECRET_ENV]
        return {**env, SECRET_ARN_ENV: self.secret_arn}

    def receiver(self, max_age: int = WINDOW) -> HttpEdge:
        def count(model: Any, **_: Any) -> None:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

        config = load_config(self.env())
        return build_receiver(config, self.endpoints, hooks=[("before-call", count)], secret_max_age=max_age)


@pytest.fixture
def deployment(moto_endpoint: str, request: pytest.FixtureRequest) -> Deployment:
    return Deployment(moto_endpoint, request.node.name)


def deliver(receiver: HttpEdge, key: bytes = SECRET_KEY) -> tuple[int, dict[str, Any]]:
    event = signed(envelope("user.created", user(fresh_id("user"), 1_732_000_000_100)), key=key)
    return answer(receiver.handle(event, LocalContext("WebhookFunction")))


def wait_for_next_window() -> None:
    time.sleep(WINDOW + 0.2)


def test_the_secret_is_read_once_per_cache_window(deployment):
    deployment.put(SECRET)
    receiver = deployment.receiver(max_age=300)
    assert deployment.calls["secretsmanager.GetSecretValue"] == 0  # nothing is read before a request
    for _ in range(3):
        assert deliver(receiver)[0] == 200
    assert deployment.calls["secretsmanager.GetSecretValue"] == 1


def test_rotation_without_redeploy(deployment):
    deployment.put(SECRET)
    receiver = deployment.receiver()
    assert deliver(receiver)[0] == 200
    assert deliver(receiver, OTHER_KEY)[0] == 401

    # step 1 of a rotation: both secrets during the overlap (space-separated, as the README says)
    deployment.put(f"{SECRET} {OTHER_SECRET}")
    assert deliver(receiver, OTHER_KEY)[0] == 401  # still inside the cached window
    wait_for_next_window()
    assert deliver(receiver, OTHER_KEY)[0] == 200
    assert deliver(receiver, SECRET_KEY)[0] == 200

    # step 2: only the new secret
    deployment.put(OTHER_SECRET)
    wait_for_next_window()
    assert deliver(receiver, OTHER_KEY)[0] == 200
    status, body = deliver(receiver, SECRET_KEY)
    assert (status, body["error"]) == (401, "invalid signature: no matching signature")


def test_comma_separated_secrets(deployment):
    deployment.put(f"{OTHER_SECRET},{SECRET}")
    receiver = deployment.receiver()
    assert deliver(receiver, SECRET_KEY)[0] == 200
    assert deliver(receiver, OTHER_KEY)[0] == 200


def _unavailable(
    deployment: Deployment, caplog: pytest.LogCaptureFixture, receiver: HttpEdge | None = None
) -> str:
    """Deliver once, expect a bare 503; return the reason logged at ERROR level."""
    caplog.clear()
    status, body = deliver(receiver or deployment.receiver())
    assert (status, body) == (503, {"error": "signing keys unavailable; retry later"})
    [logged] = [r for r in caplog.records if r.getMessage() == "signing keys unavailable"]
    assert logged.levelname == "ERROR" and logged.__dict__["status_code"] == 503
    return str(logged.__dict__["reason"])


def test_a_secret_without_a_value_answers_503(deployment, caplog):
    # what the stack creates: a secret with no value until the operator puts Clerk's secret in it
    reason = _unavailable(deployment, caplog)
    assert deployment.secret_arn in reason and "ResourceNotFoundException" in reason


def test_a_missing_secret_answers_503(deployment, caplog):
    deployment.secrets.delete_secret(SecretId=deployment.secret_arn, ForceDeleteWithoutRecovery=True)
    assert "ResourceNotFoundException" in _unavailable(deployment, caplog)


MATERIAL = "Zm9vYmFyU2VjcmV0TWF0ZXJpYWw"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MATERIAL, "secret #1 does not start with 'whsec_'"),
        (f"{SECRET} whsec_{MATERIAL}!", "secret #2 is not valid base64"),
        ("   ", "is empty"),
        (json.dumps({"secret": SECRET}), "secret #1 does not start with 'whsec_'"),
    ],
)
def test_a_malformed_secret_answers_503_without_echoing_it(deployment, caplog, value, expected):
    deployment.put(value)
    reason = _unavailable(deployment, caplog)
    assert expected in reason and "malformed" in reason
    assert MATERIAL not in reason and "plJ3nmyCDGBKInavdOK15jsl" not in reason


def test_a_binary_secret_is_read_as_utf8(deployment):
    deployment.secrets.put_secret_value(SecretId=deployment.secret_arn, SecretBinary=SECRET.encode())
    assert deliver(deployment.receiver())[0] == 200


def test_a_broken_rotation_recovers_once_fixed(deployment, caplog):
    deployment.put(SECRET)
    receiver = deployment.receiver()
    assert deliver(receiver)[0] == 200
    deployment.put(f"{SECRET} {OTHER_SECRET[:-3]}!!!")  # a typo while rotating
    wait_for_next_window()
    assert "secret #2" in _unavailable(deployment, caplog, receiver)
    deployment.put(f"{SECRET} {OTHER_SECRET}")
    wait_for_next_window()
    assert deliver(receiver, OTHER_KEY)[0] == 200


def test_an_unreachable_secrets_manager_answers_503(deployment, caplog):
    config = load_config(deployment.env())
    endpoints = Endpoints(
        dynamodb=deployment.endpoints.dynamodb,
        sqs=deployment.endpoints.sqs,
        secretsmanager="http://127.0.0.1:9",  # discard port: connection refused
        region=REGION,
    )
    receiver = build_receiver(config, endpoints)
    started = time.monotonic()
    assert "cannot read secret" in _unavailable(deployment, caplog, receiver)
    assert time.monotonic() - started < 10  # well inside Svix's 15 s


# --- which source wins ---------------------------------------------------------------------------

BASE = {"SIDE_EFFECTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:clerk-sync-AbCdEf"


def test_the_arn_alone_defers_the_keys_to_the_secret():
    config = load_config({**BASE, SECRET_ARN_ENV: ARN})
    assert config.signing_keys == () and config.signing_secret_arn == ARN


def test_the_environment_secret_wins_over_the_arn():
    config = load_config({**BASE, SECRET_ENV: SECRET, SECRET_ARN_ENV: ARN})
    assert config.signing_keys == (SECRET_KEY,) and config.signing_secret_arn is None


@pytest.mark.parametrize("arn", [None, ""])
def test_neither_source_is_a_startup_error(arn):
    environ = dict(BASE) if arn is None else {**BASE, SECRET_ARN_ENV: arn}
    with pytest.raises(ConfigError) as info:
        load_config(environ)
    assert SECRET_ENV in str(info.value) and SECRET_ARN_ENV in str(info.value)


def test_static_keys_make_no_secrets_manager_call(moto_endpoint):
    calls: list[str] = []
    hook: Callable[..., None] = lambda model, **_: calls.append(model.service_model.service_name)  # noqa: E731
    deployment = Deployment(moto_endpoint, "static")
    env = {**deployment.env(), SECRET_ENV: SECRET}
    receiver = build_receiver(load_config(env), deployment.endpoints, hooks=[("before-call", hook)])
    assert deliver(receiver)[0] == 200
    assert "secretsmanager" not in calls
